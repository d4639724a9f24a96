"""The compiled read path: a validated query operation answered by ONE SQL statement that writes the
response's JSON, instead of field-by-field execution.

Strawberry parses and validates the document under every limit first; then, in `on_execute`, this
extension looks up the operation's plan (compiled once per document, operation name and the values of
the variables @skip/@include read; a bounded LRU cache), builds the statement for this request's
arguments and viewer, runs it, and sets the result. Python adds only what it builds itself (the viewer's
forecast row, the forecast table, the company settings). Anything the plan does not cover — a field
without an emitter, a mutation, an argument the resolvers would refuse, a value the executor would turn
into an error — falls back, whole, to Strawberry's execution: there are no partial results.
"""

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from graphql.execution import get_variable_values
from graphql.execution.values import VariableValues
from sqlalchemy import select
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from db.faults import database_fault
from resolvers.errors import PublicError
from resolvers.pagination import signing_pads
from schema.compiled import types as _types  # noqa: F401  (registers the SQL types)
from schema.compiled.objects import FallBack, Statement, lookup_root, prepare_root
from schema.compiled.plan import TYPENAME, Document, Obj, Unsupported, directive_variables
from schema.compiled.sql import Run, lookup
from schema.requests import note

log = logging.getLogger("pipecast.compiled")

PLAN_CACHE_SIZE = 256
V = TypeVar("V")


@dataclass(frozen=True)
class _Operation:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    directive_variables: tuple[str, ...]


class Plans:
    """The process's compiled plans (and verdicts: None for an operation the path does not serve)."""

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self.size = size
        self._operations: OrderedDict[Hashable, _Operation | None] = OrderedDict()
        self._plans: OrderedDict[Hashable, Obj | None] = OrderedDict()
        self.compiled = 0

    def _remember(self, cache: OrderedDict[Hashable, Any], key: Hashable, value: V) -> V:
        cache[key] = value
        if len(cache) > self.size:
            cache.popitem(last=False)
        return value

    def operation(self, key: Hashable, document: Any, name: str | None) -> _Operation | None:
        if key in self._operations:
            self._operations.move_to_end(key)
            known: _Operation | None = self._operations[key]
            return known
        operation = get_operation_ast(document, name)
        found = None
        if operation is not None and operation.operation is OperationType.QUERY:
            fragments = {
                d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            found = _Operation(
                operation, fragments, tuple(directive_variables(operation, fragments.values()))
            )
        return self._remember(self._operations, key, found)

    def plan(self, key: Hashable, document: Document) -> Obj | None:
        if key in self._plans:
            self._plans.move_to_end(key)
            known: Obj | None = self._plans[key]
            return known
        try:
            plan = document.compile(document.object_type("Query"), None)
        except Unsupported as exc:
            log.debug("not compiled: %s", exc)
            plan = None
        except Exception:
            log.exception("compiling a plan failed; the executor answers the operation")
            plan = None
        self.compiled += 1
        return self._remember(self._plans, key, plan)


def _lookup(type_name: str, field_name: str) -> Any:
    if type_name == "Query" and field_name != TYPENAME:
        return lookup_root(field_name)
    return lookup(type_name, field_name)


class CompiledReads(SchemaExtension):
    """Answers a query operation from its compiled plan when it has one (see the module docstring)."""

    def __init__(self, plans: Plans) -> None:
        super().__init__()
        self.plans = plans

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.operation_type is StrawberryOperationType.QUERY and not context.pre_execution_errors:
            result = await self._answer()
            note(read_path="compiled" if result is not None else "executed")
            if result is not None:
                context.result = result
        yield

    async def _answer(self) -> ExecutionResult | None:
        found = self._plan()
        if found is None:
            return None
        plan, document = found
        request = self.execution_context.context
        run = Run(request, document, self.execution_context.schema, signing_pads(request.cursor_key))
        try:
            return ExecutionResult(data=await _run(run, plan), errors=None)
        except (PublicError, Unsupported, FallBack):
            return None  # the executor answers, with its own errors where there are any
        except Exception as exc:
            if database_fault(exc) is None:
                # A bug of the compiled path must not cost the client its answer: the executor gives it.
                log.exception("compiled read failed; the executor answers instead")
                return None
            first = plan.fields[0].selected
            error = GraphQLError(str(exc), nodes=list(first.nodes), path=[first.key], original_error=exc)
            return ExecutionResult(data=None, errors=[error])

    def _plan(self) -> tuple[Obj, Document] | None:
        """The operation's plan and this request's document (its coerced variables), if it has one."""
        context = self.execution_context
        schema = context.schema._schema
        key = (context.query, context.operation_name)
        operation = self.plans.operation(key, context.graphql_document, context.operation_name)
        if operation is None:
            return None
        definitions = operation.operation.variable_definitions or ()
        variables = get_variable_values(schema, definitions, context.variables or {})
        if not isinstance(variables, VariableValues):
            return None  # the executor reports the variables' errors
        shape = tuple(variables.coerced.get(name) for name in operation.directive_variables)
        document = Document(schema, operation.operation, operation.fragments, variables, _lookup)
        plan = self.plans.plan((*key, shape), document)
        return None if plan is None else (plan, document)


async def _run(run: Run, plan: Obj) -> dict[str, Any]:
    """The response's data: the root's fields prepared, the one statement run, the values written."""
    statement = Statement([])
    written = await prepare_root(run, plan, statement)
    row: tuple[Any, ...] = ()
    if statement.columns:
        async with run.context.engine.connect() as conn:
            row = tuple((await conn.execute(select(*statement.columns))).one())
    return {key: write(row) for key, write in written}


def compiled_reads(plans: Plans) -> Any:
    """The extension's factory for the schema (a fresh instance per request, one cache per process)."""
    return lambda: CompiledReads(plans)
