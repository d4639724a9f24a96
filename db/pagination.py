"""Keyset pagination: one statement for a page (with the total when asked), or for the pages of many parents.

An `Ordering` is a list of sort expressions ending in a unique key, all in one direction. A page asks for
`first + 1` rows after a key, so `has_next` needs no second statement. Parents' pages come from one
LATERAL statement over the parent keys; their totals, when asked, from one more.
"""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Row, Select, func, literal, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import FromClause, Join
from sqlalchemy.sql.util import find_tables
from sqlalchemy.types import TypeEngine

R = TypeVar("R")
P = TypeVar("P", bound=Hashable)

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Ordering:
    name: str
    columns: tuple[ColumnElement[Any], ...]
    descending: bool = False

    def after(self, key: Key) -> ColumnElement[bool]:
        """The rows after a sort key (values, or SQL parameters standing for them)."""
        given = (v if isinstance(v, ColumnElement) else literal(v) for v in key)
        current, cursor = tuple_(*self.columns), tuple_(*given)
        return current < cursor if self.descending else current > cursor

    def clauses(self) -> list[ColumnElement[Any]]:
        return [c.desc() if self.descending else c.asc() for c in self.columns]


@dataclass(frozen=True)
class ChildList:
    """A plain list of rows under parents (a team's children, a user's memberships…): the rows, the
    column naming each row's parent, and their order (columns, possibly `.desc()`)."""

    query: Select[Any]
    parent: ColumnElement[Any]
    order: tuple[ColumnElement[Any], ...]

    def of(self, parent: ColumnElement[Any]) -> Select[Any]:
        """The rows of one parent (a column of an enclosing query)."""
        return self.query.where(self.parent == parent)

    async def fetch(
        self, conn: AsyncConnection, parents: Sequence[P], convert: Callable[[Row[Any]], R]
    ) -> dict[P, list[R]]:
        """The rows of many parents in one statement, grouped by parent."""
        found: dict[P, list[R]] = {parent: [] for parent in parents}
        query = self.query.add_columns(self.parent.label("_parent")).where(self.parent.in_(list(parents)))
        for row in await conn.execute(query.order_by(*self.order)):
            found[row._mapping["_parent"]].append(convert(row))
        return found


@dataclass(frozen=True)
class PageRequest:
    """A page to read: how many items, the sort key after which it starts (None: from the first), and
    whether to count the whole list."""

    first: int
    after: Key | None = None
    with_total: bool = False


@dataclass
class Page(Generic[R]):
    items: list[R]
    keys: list[Key]
    has_next: bool
    has_previous: bool
    total: int | None = None
    after: Key | None = field(default=None, repr=False)


def _key_labels(ordering: Ordering) -> list[ColumnElement[Any]]:
    return [c.label(f"_k{i}") for i, c in enumerate(ordering.columns)]


def _page(
    rows: Sequence[Row[Any]], request: PageRequest, convert: Callable[[Row[Any]], R], width: int
) -> Page[R]:
    kept = rows[: request.first]
    return Page(
        items=[convert(row) for row in kept],
        keys=[tuple(row._mapping[f"_k{i}"] for i in range(width)) for row in kept],
        has_next=len(rows) > request.first,
        has_previous=request.after is not None,
        after=request.after,
    )


def empty_page(request: PageRequest) -> Page[Any]:
    return Page([], [], False, request.after is not None, 0)


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    ordering: Ordering,
    request: PageRequest,
    convert: Callable[[Row[Any]], R],
) -> Page[R]:
    """One page of `query` (its WHERE holds the filters); the total is computed in the same statement."""
    stmt = query.add_columns(*_key_labels(ordering))
    if request.with_total:
        total = counting(query).scalar_subquery()
        stmt = stmt.add_columns(total.label("_total"))
    if request.after is not None:
        stmt = stmt.where(ordering.after(request.after))
    rows = (await conn.execute(stmt.order_by(*ordering.clauses()).limit(request.first + 1))).all()
    page = _page(rows, request, convert, len(ordering.columns))
    if request.with_total:
        page.total = rows[0]._mapping["_total"] if rows else await _count(conn, query)
    return page


def counting(query: Select[Any]) -> Select[Any]:
    """The same rows, counted (queries here never use DISTINCT or GROUP BY).

    A list query's outer joins are to-one (a deal's stage, owner and rate; a user's primary team), so the
    ones its WHERE does not read cannot change the count and are left out: PostgreSQL decides which
    columns a query needs before it removes such joins itself, and with them a count that an index alone
    answers would read every row from the table (400 members' deal counts at 1M deals: 650 ms → 40 ms)."""
    where = query.whereclause
    read = set(find_tables(where, check_columns=True, include_aliases=True)) if where is not None else set()
    froms = [_without_unread_joins(f, read) for f in query.get_final_froms()]
    counted = select(func.count()).select_from(*froms)
    return counted.where(where) if where is not None else counted


def _without_unread_joins(source: FromClause, read: set[Any]) -> FromClause:
    if isinstance(source, Join) and source.isouter:
        right = set(find_tables(source.right, include_aliases=True, include_joins=True)) | {source.right}
        left = _without_unread_joins(source.left, read)
        if not right & read:
            return left
        return left.outerjoin(source.right, source.onclause) if left is not source.left else source
    return source


async def _count(conn: AsyncConnection, query: Select[Any]) -> int:
    return int(await conn.scalar(counting(query)) or 0)


async def fetch_pages(
    conn: AsyncConnection,
    parents: Sequence[P],
    build: Callable[[ColumnElement[Any]], tuple[Select[Any], Ordering]],
    request: PageRequest,
    convert: Callable[[Row[Any]], R],
    key_type: TypeEngine[Any] | None = None,
) -> dict[P, Page[R]]:
    """The page of every parent in one LATERAL statement (and their totals in one more, when asked).

    `build(parent)` returns the query and ordering for one parent, given the parent key as a column;
    parent keys are BIGINT unless `key_type` says otherwise.
    """
    array = ARRAY(key_type if key_type is not None else BigInteger())
    keys = func.unnest(literal(list(parents), array)).table_valued("parent").render_derived("parents")
    query, ordering = build(keys.c.parent)
    inner = query.add_columns(*_key_labels(ordering))
    if request.after is not None:
        inner = inner.where(ordering.after(request.after))
    lateral = inner.order_by(*ordering.clauses()).limit(request.first + 1).lateral("page")
    stmt = select(keys.c.parent, lateral).select_from(keys.join(lateral, true()))
    grouped: dict[Any, list[Row[Any]]] = {parent: [] for parent in parents}
    for row in await conn.execute(stmt):
        grouped[row.parent].append(row)
    pages = {parent: _page(rows, request, convert, len(ordering.columns)) for parent, rows in grouped.items()}
    if request.with_total:
        counted = counting(query).scalar_subquery()
        totals = {
            row.parent: row.total for row in await conn.execute(select(keys.c.parent, counted.label("total")))
        }
        for parent, page in pages.items():
            page.total = int(totals.get(parent, 0))
    return pages
