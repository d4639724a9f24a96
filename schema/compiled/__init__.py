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
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
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
from sqlalchemy import ColumnElement, Executable, select
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from db.faults import database_fault
from resolvers.errors import PublicError
from resolvers.pagination import signing_pads
from schema.compiled import types as _types  # noqa: F401  (registers the SQL types)
from schema.compiled.objects import FallBack, lookup_root, root_fields
from schema.compiled.plan import TYPENAME, Document, Obj, Unsupported, directive_variables
from schema.compiled.sql import Binds, Builder, Run, lookup
from schema.requests import note

log = logging.getLogger("pipecast.compiled")

PLAN_CACHE_SIZE = 256
SHAPES_PER_PLAN = 32
V = TypeVar("V")


@dataclass(frozen=True)
class _Operation:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    directive_variables: tuple[str, ...]


@dataclass
class Compiled:
    """An operation's plan, and its statements: one per shape (the facts the request's arguments and
    the viewer's deal:view grant decide), each with the columns every root field reads."""

    plan: Obj
    statements: OrderedDict[Hashable, "_Statement"] = field(default_factory=OrderedDict)

    def statement(self, key: Hashable, build: Callable[[], "_Statement"]) -> "_Statement":
        found = self.statements.get(key)
        if found is None:
            found = self.statements[key] = build()
            if len(self.statements) > SHAPES_PER_PLAN:
                self.statements.popitem(last=False)
        return found


@dataclass(frozen=True)
class _Statement:
    select: Executable | None
    slices: dict[str, slice]  # each root field's columns in the statement's row


class Plans:
    """The process's compiled plans (and verdicts: None for an operation the path does not serve)."""

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self.size = size
        self._operations: OrderedDict[Hashable, _Operation | None] = OrderedDict()
        self._plans: OrderedDict[Hashable, Compiled | None] = OrderedDict()
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

    def plan(self, key: Hashable, document: Document) -> Compiled | None:
        if key in self._plans:
            self._plans.move_to_end(key)
            known: Compiled | None = self._plans[key]
            return known
        compiled: Compiled | None
        try:
            compiled = Compiled(document.compile(document.object_type("Query"), None))
        except Unsupported as exc:
            log.debug("not compiled: %s", exc)
            compiled = None
        except Exception:
            log.exception("compiling a plan failed; the executor answers the operation")
            compiled = None
        self.compiled += 1
        return self._remember(self._plans, key, compiled)


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
        refused = context.pre_execution_errors or context.result is not None  # by OverTheRightTransport
        if context.operation_type is StrawberryOperationType.QUERY and not refused:
            result = await self._answer()
            note(read_path="compiled" if result is not None else "executed")
            if result is not None:
                context.result = result
        yield

    async def _answer(self) -> ExecutionResult | None:
        found = self._plan()
        if found is None:
            return None
        compiled, document = found
        run = Run(self.execution_context.context, document, self.execution_context.schema)
        try:
            return ExecutionResult(data=await _run(run, compiled), errors=None)
        except (PublicError, Unsupported, FallBack):
            return None  # the executor answers, with its own errors where there are any
        except Exception as exc:
            if database_fault(exc) is None:
                # A bug of the compiled path must not cost the client its answer: the executor gives it.
                log.exception("compiled read failed; the executor answers instead")
                return None
            first = compiled.plan.fields[0].selected
            error = GraphQLError(str(exc), nodes=list(first.nodes), path=[first.key], original_error=exc)
            return ExecutionResult(data=None, errors=[error])

    def _plan(self) -> tuple[Compiled, Document] | None:
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
        compiled = self.plans.plan((*key, shape), document)
        return None if compiled is None else (compiled, document)


async def _run(run: Run, compiled: Compiled) -> dict[str, Any]:
    """The response's data: the root's fields bound, the shape's statement run, the values written."""
    plan, context = compiled.plan, run.context
    binds = Binds()
    fields = list(root_fields(plan))
    for f in fields:
        await f.emitter.bind(run, f, binds)
    deal_view = context.access.grant("deal", "view")

    def build() -> _Statement:
        builder = Builder(binds.facts, deal_view)
        columns: list[ColumnElement[str]] = []
        slices: dict[str, slice] = {}
        for f in fields:
            own = f.emitter.columns(builder, f)
            slices[f.pid] = slice(len(columns), len(columns) + len(own))
            columns += own
        return _Statement(select(*columns) if columns else None, slices)

    statement = compiled.statement((binds.key(), deal_view), build)
    row: tuple[Any, ...] = ()
    if statement.select is not None:
        inner_pad, outer_pad = signing_pads(context.cursor_key)
        values = binds.values | {
            "viewer": context.viewer.id,
            "reach": sorted(context.access.team_reach),
            "inner_pad": inner_pad,
            "outer_pad": outer_pad,
        }
        async with context.engine.connect() as conn:
            row = tuple((await conn.execute(statement.select, values)).one())
    data: dict[str, Any] = {}
    for f in plan.fields:
        if f.selected.name == TYPENAME:
            data[f.selected.key] = "Query"
        else:
            data[f.selected.key] = await f.emitter.write(run, f, row[statement.slices[f.pid]])
    return data


def compiled_reads(plans: Plans) -> Any:
    """The extension's factory for the schema (a fresh instance per request, one cache per process)."""
    return lambda: CompiledReads(plans)
