"""Query limits, checked before execution: depth, aliases, tokens, the cost of nested pages, NUL text.

Every rule is a class made once, so the validation of a document is computed once and cached by its text
(with the parse, `ParserCache`): a repeated document costs a dictionary lookup. What depends on the
request's variables (page sizes given as variables, NUL characters in variables) is a small formula per
document, evaluated per request. Each limit answers with a BAD_USER_INPUT error that names it.
"""

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationRule,
    VariableNode,
    parse,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.schema import validate_document

from resolvers.pagination import DEFAULT_FIRST

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 2000
MAX_COST = 500_000  # GitHub's node limit: the default pages nest three deep, 20 × 200 × 200 does not
CACHED_DOCUMENTS = 256
GRAPHQL_INT = 2**31

NUL_MESSAGE = "text must not contain NUL characters (\\u0000)"


class NoNulLiterals(ValidationRule):
    """PostgreSQL text cannot hold U+0000: refuse it in any string literal up front, rather than as a
    database error halfway through a mutation (variables are checked per request)."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError(NUL_MESSAGE, node))


DEPTH_RULE = depth_validator(MAX_DEPTH, None, None)
ALIASES_RULE = aliases_validator(MAX_ALIASES)
STATIC_RULES = (DEPTH_RULE, ALIASES_RULE, NoNulLiterals)

# A page-cost term: the product, down one path of nested lists, of each list's page size — a number, or
# the name of the variable that gives it.
Term = tuple[int | str, ...]


def _cost_terms(document: DocumentNode) -> dict[str | None, list[Term]]:
    """Per operation (by name; None for an anonymous one), the page-cost terms of its lists."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def first(field: FieldNode) -> int | str | None:
        for argument in field.arguments or ():
            if argument.name.value == "first":
                value = argument.value
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, VariableNode):
                    return value.name.value
        return None

    def is_page(field: FieldNode) -> bool:
        """A connection asked without `first` still returns a page of the default size."""
        selections = field.selection_set.selections if field.selection_set else ()
        return any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections)

    def walk(selections: SelectionSetNode | None, above: Term, seen: frozenset[str]) -> Iterator[Term]:
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                size = first(selection)
                here = above
                if size is not None or is_page(selection):
                    here = (*above, DEFAULT_FIRST if size is None else size)
                    yield here
                yield from walk(selection.selection_set, here, seen)
            elif isinstance(selection, InlineFragmentNode):
                yield from walk(selection.selection_set, above, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:  # cycles are refused by validation anyway
                    yield from walk(fragments[name].selection_set, above, seen | {name})

    return {
        (d.name.value if d.name else None): list(walk(d.selection_set, (), frozenset()))
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def _size(factor: int | str, variables: dict[str, Any]) -> int:
    if isinstance(factor, str):
        given = variables.get(factor)
        # A variable that is not a valid page size is coercion's error to report, not the limit's.
        factor = given if isinstance(given, int) and -GRAPHQL_INT <= given < GRAPHQL_INT else DEFAULT_FIRST
    return max(factor, 1)


def page_cost(terms: list[Term], variables: dict[str, Any]) -> int:
    total = 0
    for term in terms:
        product = 1
        for factor in term:
            product *= _size(factor, variables)
        total += product
    return total


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@dataclass(frozen=True)
class _Validated:
    errors: list[GraphQLError]
    costs: dict[str | None, list[Term]]


class _Cache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, _Validated] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], _Validated]) -> _Validated:
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = compute()
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        return found


_VALIDATED = _Cache(CACHED_DOCUMENTS)


def _copy(error: GraphQLError) -> GraphQLError:
    """A request's own copy of a cached error (extensions get the request id later)."""
    return GraphQLError(
        error.message, error.nodes, error.source, error.positions, error.path, error.original_error,
        dict(error.extensions or {}),
    )  # fmt: skip


class CachedValidation(SchemaExtension):
    """Validates a document once per distinct text and rule set, then checks what the request's
    variables decide: the page cost and NUL characters."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        rules = tuple(context.validation_rules)
        document = context.graphql_document
        assert document is not None
        schema = context.schema._schema

        def validate() -> _Validated:
            errors = validate_document(schema, document, rules)
            return _Validated(errors, {} if errors else _cost_terms(document))

        validated = _VALIDATED.get((context.query, rules), validate)
        errors = [_copy(e) for e in validated.errors]
        if not errors:
            variables = dict(context.variables or {})
            if _has_nul(variables):
                errors.append(GraphQLError(f"variables: {NUL_MESSAGE}"))
            operation = context.operation_name if context.operation_name in validated.costs else None
            terms = validated.costs.get(operation) or next(iter(validated.costs.values()), [])
            cost = page_cost(terms, variables)
            if cost > MAX_COST:
                errors.append(
                    GraphQLError(
                        f"the query may fetch {cost:,} items, over the limit of {MAX_COST:,}: "
                        "ask for smaller pages (first) or fewer nested lists"
                    )
                )
        context.pre_execution_errors = errors
        yield


@lru_cache(maxsize=CACHED_DOCUMENTS)
def _parsed(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class CachedParse(SchemaExtension):
    """Parses a document once per distinct text. A document that does not parse is left to Strawberry,
    which parses it again and reports the syntax error as usual."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parsed(context.query, MAX_TOKENS)
        yield


def limit_extensions() -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    return [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        CachedParse,
        lambda: AddValidationRules(list(STATIC_RULES)),
        CachedValidation,
    ]
