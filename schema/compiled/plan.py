"""A validated query, compiled once into a plan: the fields of each object, merged and ordered exactly as
GraphQL execution collects them (aliases, fragments, @skip/@include), each bound to the emitter that
serves it. A field no emitter serves makes the whole operation unsupported: it falls back, whole, to
Strawberry's execution.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    type_from_ast,
)
from graphql.execution import get_directive_values
from graphql.execution.values import VariableValues

TYPENAME = "__typename"


class Unsupported(Exception):
    """The compiled path does not serve this operation."""


@dataclass(frozen=True)
class Selected:
    """One response key of an object's selection: its field nodes (merged) and definition."""

    key: str
    nodes: tuple[FieldNode, ...]
    definition: GraphQLField | None  # None for __typename

    @property
    def name(self) -> str:
        return self.nodes[0].name.value


@dataclass
class Obj:
    """The selection on one object type, field by field in response order."""

    type: GraphQLObjectType
    fields: list["Field"]


@dataclass
class Field:
    """A selected field with the emitter that serves it, what the emitter compiled for it, and the
    prefix of its statement parameters' names (unique in the plan)."""

    selected: Selected
    emitter: Any
    compiled: Any = None
    pid: str = ""


@dataclass
class Document:
    """What compiling an operation reads: the schema, the fragments and the operation's variables."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    variables: VariableValues
    lookup: Callable[[str, str], Any]  # (type name, field name) → emitter, or None
    _fields: int = 0

    def object_type(self, name: str) -> GraphQLObjectType:
        found = self.schema.get_type(name)
        assert isinstance(found, GraphQLObjectType)
        return found

    def selection(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode] | None) -> list[Selected]:
        """The fields selected on `type_` by these field nodes (the operation's root when None)."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        sets = [self.operation.selection_set] if nodes is None else [n.selection_set for n in nodes]
        for selection_set in sets:
            if selection_set is not None:
                self._collect(type_, selection_set, grouped, visited)
        selected = []
        for key, found in grouped.items():
            name = found[0].name.value
            if name.startswith("__") and name != TYPENAME:
                raise Unsupported(f"{name}: introspection is answered by the executor")
            selected.append(Selected(key, tuple(found), None if name == TYPENAME else type_.fields[name]))
        return selected

    def compile(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode] | None) -> Obj:
        """The plan of an object's selection; Unsupported when a field has no emitter."""
        fields = []
        for selected in self.selection(type_, nodes):
            emitter = self.lookup(type_.name, selected.name)
            if emitter is None:
                raise Unsupported(f"{type_.name}.{selected.name}")
            fields.append(self.field(selected, emitter))
        return Obj(type_, fields)

    def field(self, selected: Selected, emitter: Any) -> Field:
        """A field of the plan, compiled by its emitter, with parameter names of its own."""
        self._fields += 1
        pid = f"f{self._fields}_"
        return Field(selected, emitter, emitter.compile(self, selected), pid)

    def compile_field_type(self, selected: Selected) -> Obj:
        """The plan of the object type a field returns (through lists and non-null)."""
        assert selected.definition is not None
        named = get_named_type(selected.definition.type)
        if not isinstance(named, GraphQLObjectType):
            raise Unsupported(f"{selected.name} returns an abstract type")
        return self.compile(named, selected.nodes)

    def _included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        if not node.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip["if"]:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and not include["if"])

    def _applies(self, condition: Any, type_: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = type_from_ast(self.schema, condition)
        if conditional is type_:
            return True
        return bool(
            conditional is not None
            and is_abstract_type(conditional)
            and self.schema.is_sub_type(conditional, type_)
        )

    def _collect(
        self,
        type_: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        """GraphQL's CollectFields: same keys merge at their first place, fragments inline in order."""
        for selection in selection_set.selections:
            if not self._included(selection):  # type: ignore[arg-type]
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, type_):
                    self._collect(type_, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._applies(fragment.type_condition, type_):
                    self._collect(type_, fragment.selection_set, grouped, visited)


def directive_variables(
    operation: OperationDefinitionNode, fragments: Iterable[FragmentDefinitionNode]
) -> list[str]:
    """The variables that @skip and @include read: the plan depends on their values."""
    names: list[str] = []

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            for directive in selection.directives or ():
                if directive.name.value in ("skip", "include"):
                    for argument in directive.arguments or ():
                        variable = getattr(argument.value, "name", None)
                        if variable is not None and variable.value not in names:
                            names.append(variable.value)
            visit(getattr(selection, "selection_set", None))

    visit(operation.selection_set)
    for fragment in fragments:
        visit(fragment.selection_set)
    return names
