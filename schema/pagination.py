"""Relay connections with keyset cursors and totalCount."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
)

from db.pagination import Key, Page, PageRequest
from resolvers.context import Context
from resolvers.pagination import decode_cursor, encode_cursor, page_size

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a list, with the cursor to continue after it.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list: pass `pageInfo.endCursor` as `after` for the next one.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int = strawberry.field(description="The number of items in the whole list.")


C = TypeVar("C", bound=Connection[Any])


def connection(cls: type[C], context: Context, page: Page[R], ordering: str, node: Callable[[R], Any]) -> C:
    """A page as a connection of `cls` (a concrete subclass such as UserConnection)."""
    cursors = [encode_cursor(context.cursor_key, ordering, key) for key in page.keys]
    return cls(
        edges=[Edge(cursor=c, node=node(item)) for c, item in zip(cursors, page.items, strict=True)],
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        total_count=page.total if page.total is not None else -1,
    )


def page_request(
    context: Context, first: int | None, after: str | None, ordering: str
) -> tuple[int, Key | None]:
    """A page's size and the sort key after which it starts, from the `first` and `after` arguments."""
    return page_size(first), decode_cursor(context.cursor_key, after, ordering)


def arguments(
    info: strawberry.Info[Context], first: int | None, after: str | None, ordering: str
) -> PageRequest:
    """The page a resolver reads: its size, the key after which it starts, and whether to count."""
    size, start = page_request(info.context, first, after, ordering)
    return PageRequest(size, start, wants(info._raw_info, "totalCount"))


def names_in(
    nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode], *, deep: bool = False
) -> Iterator[str]:
    """The names of the fields selected under these field nodes (through fragments; `deep`: at any depth)."""
    pending = [n.selection_set for n in nodes]
    while pending:
        selections = pending.pop()
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                yield selection.name.value
                if deep:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                pending.append(fragments[selection.name.value].selection_set)


def wants(info: GraphQLResolveInfo[Any], name: str) -> bool:
    """Whether the current field's selection asks for `name` (through fragments too)."""
    return name in names_in(info.field_nodes, info.fragments)


__all__ = ["Connection", "Edge", "Key", "PageInfo", "arguments", "connection"]
