"""Query limits, checked before execution: depth, aliases, tokens, the cost of nested pages, NUL text.

Each is passed to the schema as a class or a zero-argument factory (never a shared instance) and
answers with a BAD_USER_INPUT error that names the limit.
"""

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension

from resolvers.pagination import DEFAULT_FIRST

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 2000
MAX_COST = 100_000


def _cost_rule(variables: dict[str, Any]) -> type[ValidationRule]:
    class PageCost(ValidationRule):
        """Σ over every list field of the product of the page sizes (`first`, default 50) above and at it."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            self.fragments = {
                d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    cost = sum(self._cost(definition.selection_set, 1, frozenset()))
                    if cost > MAX_COST:
                        context.report_error(
                            GraphQLError(
                                f"the query may fetch {cost:,} items, over the limit of {MAX_COST:,}: "
                                "ask for smaller pages (first) or fewer nested lists"
                            )
                        )

        def _first(self, field: FieldNode) -> int | None:
            for argument in field.arguments or ():
                if argument.name.value == "first":
                    value = argument.value
                    if isinstance(value, IntValueNode):
                        return int(value.value)
                    if isinstance(value, VariableNode):
                        given = variables.get(value.name.value)
                        return given if isinstance(given, int) else DEFAULT_FIRST
            return None

        def _cost(
            self, selections: SelectionSetNode | None, factor: int, seen: frozenset[str]
        ) -> Iterator[int]:
            for selection in selections.selections if selections else ():
                if isinstance(selection, FieldNode):
                    first = self._first(selection)
                    takes_first = first is not None or self._is_page(selection)
                    size = first if first is not None else DEFAULT_FIRST
                    here = factor * max(size, 1) if takes_first else factor
                    if takes_first:
                        yield here
                    yield from self._cost(selection.selection_set, here, seen)
                elif isinstance(selection, InlineFragmentNode):
                    yield from self._cost(selection.selection_set, factor, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in seen and name in self.fragments:  # cycles are refused by validation anyway
                        yield from self._cost(self.fragments[name].selection_set, factor, seen | {name})

        def _is_page(self, field: FieldNode) -> bool:
            """A connection asked without `first` still returns a page of the default size."""
            return any(
                isinstance(s, FieldNode) and s.name.value == "edges"
                for s in (field.selection_set.selections if field.selection_set else ())
            )

    return PageCost


NUL_MESSAGE = "text must not contain NUL characters (\\u0000)"


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _nul_rule(variables: dict[str, Any]) -> type[ValidationRule]:
    class NoNulCharacters(ValidationRule):
        """PostgreSQL text cannot hold U+0000: refuse it in any string literal or variable, up front,
        rather than as a database error halfway through a mutation."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            if _has_nul(variables):
                context.report_error(GraphQLError(f"variables: {NUL_MESSAGE}"))

        def enter_string_value(self, node: StringValueNode, *_: object) -> None:
            if "\x00" in node.value:
                self.report_error(GraphQLError(NUL_MESSAGE, node))

    return NoNulCharacters


class RequestRules(SchemaExtension):
    """Validation rules that also read the variables: the page cost (variables included) and NUL text."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        variables = dict(context.variables or {})
        context.validation_rules = (*context.validation_rules, _cost_rule(variables), _nul_rule(variables))
        yield


def limit_extensions() -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        RequestRules,
    ]
