"""Emitting a plan as SQL that writes the response's JSON text.

Each object level reads ONE subquery: its rows (a page, a list or a single row) with every to-one
relation it shows already joined inside (so PostgreSQL looks them up per row, with Memoize, instead of
rebuilding a hash table for every parent), each column labelled for the object it belongs to. The JSON
layer above it writes objects from those columns; lists and connections below it are correlated
subqueries aggregating their own level with `string_agg`. Pages are keyset-paginated inside, with
totals, cursors and pageInfo in the same statement.

A request first BINDS: every emitter turns its arguments into parameter values and the few facts that
decide the SQL's shape (which filters are given, the order, whether a page starts after a cursor; the
viewer's deal:view grant). The statement for those facts is built once, with named parameters, and kept
with the plan; later requests only bind values.
"""

import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLObjectType, get_named_type
from graphql.execution import get_argument_values
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    LargeBinary,
    Select,
    Table,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import Integer, TypeEngine
from strawberry.types.arguments import convert_arguments

from authz.access import REACH, VIEWER, owner_predicate
from authz.catalog import Grant
from db import render
from db.pagination import Key, Ordering, counting
from resolvers.context import Context
from schema.compiled.plan import TYPENAME, Document, Field, Obj, Selected, Unsupported


@dataclass
class Run:
    """One request on the compiled path: the context, the document and its coerced variables."""

    context: Context
    document: Document
    strawberry_schema: Any

    def arguments(self, selected: Selected) -> dict[str, Any]:
        """The field's arguments as its resolver receives them (Strawberry's own conversion)."""
        assert selected.definition is not None
        raw = get_argument_values(selected.definition, selected.nodes[0], self.document.variables)
        strawberry_field = selected.definition.extensions["strawberry-definition"]
        converter = self.strawberry_schema.schema_converter
        return convert_arguments(
            raw,
            strawberry_field.arguments,
            scalar_registry=converter.scalar_registry,
            config=self.strawberry_schema.config,
        )


@dataclass
class Binds:
    """A request's parameter values by name, and the facts (per field) that decide the SQL's shape."""

    values: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Hashable] = field(default_factory=dict)

    def put(self, f: Field, name: str, value: Any) -> None:
        self.values[f.pid + name] = value

    def fact(self, f: Field, value: Hashable) -> None:
        self.facts[f.pid] = value

    def key(self) -> Hashable:
        return tuple(sorted(self.facts.items()))


# The parameters every statement may read: who is asking (authz.access.VIEWER, REACH), and the cursor
# signing pads.
INNER_PAD = bindparam("inner_pad", type_=LargeBinary)
OUTER_PAD = bindparam("outer_pad", type_=LargeBinary)


@dataclass
class Builder:
    """Builds one statement shape: parameters named as Binds names them, the facts it recorded."""

    facts: dict[str, Hashable]
    deal_view: Grant

    def param(self, f: Field, name: str, type_: TypeEngine[Any]) -> BindParameter[Any]:
        return bindparam(f.pid + name, type_=type_)

    def fact(self, f: Field) -> Any:
        return self.facts.get(f.pid)

    def visible(self, owner: ColumnElement[Any]) -> ColumnElement[bool] | None:
        """deal:view as a predicate on an owner column (authz.access, with the request's viewer)."""
        return owner_predicate(self.deal_view, owner, VIEWER, REACH)

    def cursor(self, ordering: Ordering, keys: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
        tagged = [
            (render.cursor_tag(column), key) for column, key in zip(ordering.columns, keys, strict=True)
        ]
        return render.cursor(ordering.name, tagged, INNER_PAD, OUTER_PAD)


class Columns:
    """An object's columns by name: base expressions while its level is built, then the level's labels."""

    def __init__(self, lookup: Callable[[str], ColumnElement[Any]]) -> None:
        self._lookup = lookup

    def __getitem__(self, name: str) -> ColumnElement[Any]:
        return self._lookup(name)

    def __getattr__(self, name: str) -> ColumnElement[Any]:
        return self._lookup(name)


@dataclass
class Row:
    """One object of a level: where its columns are (`c`) and the subquery they come from (`source`,
    which lists and connections below it correlate to)."""

    c: Columns
    source: FromClause | None


class Emitter:
    """Serves one field of one type: what it compiles once, the columns of its object it reads, the
    values and facts it binds per request, and the SQL text it writes per statement shape."""

    columns: tuple[str, ...] = ()

    def compile(self, document: Document, selected: Selected) -> Any:
        return None

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        await bind_all(run, self.children(f), binds)

    def children(self, f: Field) -> Iterable[Obj]:
        return ()

    def sql(self, builder: Builder, f: Field, row: Row) -> ColumnElement[str]:
        raise NotImplementedError


async def bind_all(run: Run, plans: Iterable[Obj], binds: Binds) -> None:
    """Bind every field of these plans and of everything below them."""
    for plan in plans:
        for f in plan.fields:
            await f.emitter.bind(run, f, binds)


@dataclass
class SqlType:
    """A GraphQL object type the compiled path writes from SQL: its columns by name (base expressions of
    the queries listing it), the table a to-one join reaches it through, and its fields."""

    name: str
    columns: dict[str, ColumnElement[Any]]
    table: Table | None
    fields: dict[str, Emitter] = field(default_factory=dict)


TYPES: dict[str, SqlType] = {}


def lookup(type_name: str, field_name: str) -> Emitter | None:
    if field_name == TYPENAME:
        return TYPENAME_EMITTER
    sql_type = TYPES.get(type_name)
    return sql_type.fields.get(field_name) if sql_type else None


class _Typename(Emitter):
    def sql(self, builder: Builder, f: Field, row: Row) -> ColumnElement[str]:
        raise AssertionError("field_json writes __typename itself")


TYPENAME_EMITTER = _Typename()


class Level:
    """The subquery one object level reads: the list's query, its objects' columns labelled, and the
    to-one relations they show joined in."""

    def __init__(self, query: Select[Any], plan: Obj | None) -> None:
        self.query = query.with_only_columns(maintain_column_froms=True)
        self.columns: list[ColumnElement[Any]] = []
        self.prefixes: dict[int, str] = {}  # id(Obj) → label prefix of its columns
        self.source: FromClause | None = None
        if plan is not None:
            self._add(plan, Columns(lambda name: TYPES[plan.type.name].columns[name]), "")

    def _add(self, plan: Obj, base: Columns, prefix: str) -> None:
        self.prefixes[id(plan)] = prefix
        sql_type = TYPES[plan.type.name]
        names = {"id"} if "id" in sql_type.columns else set()
        for f in plan.fields:
            names.update(f.emitter.columns)
        self.columns += [base[name].label(prefix + name) for name in sorted(names)]
        for f in plan.fields:
            if isinstance(f.emitter, ToOne):
                alias, self.query = f.emitter.join(self.query, base)
                self._add(f.compiled, _columns_of(alias), f"j{len(self.prefixes)}_")

    def add_columns(self, *columns: ColumnElement[Any]) -> None:
        self.columns += columns

    def subquery(self, rewrite: Callable[[Select[Any]], Select[Any]] = lambda q: q) -> FromClause:
        self.source = rewrite(self.query.add_columns(*self.columns)).subquery()
        return self.source

    def row(self, plan: Obj) -> Row:
        assert self.source is not None
        source, prefix = self.source, self.prefixes[id(plan)]
        return Row(Columns(lambda name: source.c[prefix + name]), source)


def _columns_of(alias: Any) -> Columns:
    return Columns(lambda name: alias.c[name])


def field_json(builder: Builder, plan: Obj, f: Field, row: Row, level: Level) -> ColumnElement[str]:
    """The JSON value of one field of an object of `plan`."""
    if f.selected.name == TYPENAME:
        return render.constant(f'"{plan.type.name}"')
    if isinstance(f.emitter, ToOne):
        return f.emitter.object(builder, f, level)
    json: ColumnElement[str] = f.emitter.sql(builder, f, row)
    return json


def object_json(builder: Builder, plan: Obj, row: Row, level: Level) -> ColumnElement[str]:
    """The JSON object of one row for a plan."""
    return render.obj([(f.selected.key, field_json(builder, plan, f, row, level)) for f in plan.fields])


def _correlated(query: Select[Any], correlate: FromClause | None) -> Select[Any]:
    return query.correlate(correlate) if correlate is not None else query


def single(
    builder: Builder, plan: Obj, query: Select[Any], correlate: FromClause | None = None
) -> ColumnElement[str]:
    """The first row of `query` (its FROM and WHERE) as an object, or null when there is none."""
    level = Level(query, plan)
    source = level.subquery(lambda q: _correlated(q.limit(1), correlate))
    json = object_json(builder, plan, level.row(plan), level)
    return func.coalesce(select(json).select_from(source).scalar_subquery(), render.constant("null"))


def many(
    builder: Builder,
    plan: Obj,
    query: Select[Any],
    order_by: Sequence[ColumnElement[Any]],
    correlate: FromClause | None = None,
) -> ColumnElement[str]:
    """Every row of `query` as a JSON array of objects, in `order_by` order (columns, or `.desc()`)."""
    level = Level(query, plan)
    level.add_columns(*(_unordered(column).label(f"_o{n}") for n, column in enumerate(order_by)))
    source = level.subquery(lambda q: _correlated(q, correlate))
    json = object_json(builder, plan, level.row(plan), level)
    ordered = [
        source.c[f"_o{n}"].desc() if _is_descending(column) else source.c[f"_o{n}"]
        for n, column in enumerate(order_by)
    ]
    return select(render.array(json, ordered)).select_from(source).scalar_subquery()


def _is_descending(column: ColumnElement[Any]) -> bool:
    return isinstance(column, UnaryExpression) and column.modifier is operators.desc_op


def _unordered(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return column.element if isinstance(column, UnaryExpression) and _is_descending(column) else column


class ToOne(Emitter):
    """An object reached by an outer join on its table (owner, stage, parent team…), joined inside the
    level's subquery."""

    def __init__(
        self,
        target: str,
        key: str,
        *,
        nullable: bool,
        on: Callable[[Any, Columns, Select[Any]], tuple[ColumnElement[bool], Select[Any]]] | None = None,
    ) -> None:
        self.target, self.key, self.nullable = target, key, nullable
        self.columns = (key,)
        self.on = on

    def compile(self, document: Document, selected: Selected) -> Obj:
        return document.compile_field_type(selected)

    def children(self, f: Field) -> Iterable[Obj]:
        return (f.compiled,)

    def join(self, query: Select[Any], parent: Columns) -> tuple[Any, Select[Any]]:
        table = TYPES[self.target].table
        assert table is not None
        alias = table.alias()
        if self.on is None:
            onclause = alias.c.id == parent[self.key]
        else:
            onclause, query = self.on(alias, parent, query)
        return alias, query.outerjoin(alias, onclause)

    def object(self, builder: Builder, f: Field, level: Level) -> ColumnElement[str]:
        row = level.row(f.compiled)
        json = object_json(builder, f.compiled, row, level)
        return render.nullable(row.c.id.is_not(None), json) if self.nullable else json


class ToMany(Emitter):
    """A plain list of objects (a team's children, a pipeline's stages…): a correlated subquery."""

    def __init__(self, query: Callable[[Row], Select[Any]], order_by: Sequence[ColumnElement[Any]]) -> None:
        self.query, self.order_by = query, order_by
        self.columns = ("id",)

    def compile(self, document: Document, selected: Selected) -> Obj:
        return document.compile_field_type(selected)

    def children(self, f: Field) -> Iterable[Obj]:
        return (f.compiled,)

    def sql(self, builder: Builder, f: Field, row: Row) -> ColumnElement[str]:
        return many(builder, f.compiled, self.query(row), self.order_by, row.source)


@dataclass(frozen=True)
class ListShape:
    """A page request as SQL: the list's rows (FROM and WHERE of `query`) and their order, with the
    page's size and start as parameters (`after` None: from the first row)."""

    query: Select[Any]
    ordering: Ordering
    first: ColumnElement[int]
    after: tuple[ColumnElement[Any], ...] | None


class ListSource:
    """A kind of list a connection pages through: its orders, what its arguments bind, and its SQL per
    shape."""

    orderings: Sequence[Ordering] = ()

    def ordering_of(self, arguments: dict[str, Any]) -> Ordering:
        return self.orderings[0]

    async def bind(self, run: Run, f: Field, arguments: dict[str, Any], binds: Binds) -> Hashable:
        """Put the list's own values (filters); return the facts its SQL depends on."""
        return ()

    def query(self, builder: Builder, f: Field, facts: Any, row: Row | None) -> Select[Any]:
        raise NotImplementedError


@dataclass
class ConnectionPlan:
    """What a connection field selects: its own fields, the edges' fields and the node's plan."""

    fields: list[tuple[str, str]]  # (response key, field name) of the connection
    edge: list[tuple[str, str]]
    page_info: list[tuple[str, str]]
    node: Obj | None
    type_names: dict[str, str]  # "connection" / "edges" / "pageInfo" → GraphQL type name


PageRequest = Callable[[Context, int | None, str | None, str], tuple[int, Key | None]]


class Connection(Emitter):
    """A Relay connection, keyset-paginated in SQL."""

    def __init__(
        self, source: ListSource, page_request: PageRequest, *, columns: tuple[str, ...] = ("id",)
    ) -> None:
        self.source, self.page_request = source, page_request
        self.columns = columns

    def compile(self, document: Document, selected: Selected) -> ConnectionPlan:
        assert selected.definition is not None
        connection_type = get_named_type(selected.definition.type)
        assert isinstance(connection_type, GraphQLObjectType)
        plan = ConnectionPlan([], [], [], None, {"connection": connection_type.name})
        for sub in document.selection(connection_type, selected.nodes):
            plan.fields.append((sub.key, sub.name))
            if sub.name not in ("edges", "pageInfo"):
                continue
            assert sub.definition is not None
            sub_type = get_named_type(sub.definition.type)
            assert isinstance(sub_type, GraphQLObjectType)
            plan.type_names[sub.name] = sub_type.name
            for inner in document.selection(sub_type, sub.nodes):
                if sub.name == "pageInfo":
                    plan.page_info.append((inner.key, inner.name))
                    continue
                plan.edge.append((inner.key, inner.name))
                if inner.name == "node":
                    if plan.node is not None:
                        raise Unsupported("edges selected under two keys")
                    plan.node = document.compile_field_type(inner)
        return plan

    def children(self, f: Field) -> Iterable[Obj]:
        node = f.compiled.node
        return (node,) if node is not None else ()

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        arguments = run.arguments(f.selected)
        own = await self.source.bind(run, f, arguments, binds)
        ordering = self.source.ordering_of(arguments)
        first, after = self.page_request(
            run.context, arguments.get("first"), arguments.get("after"), ordering.name
        )
        binds.put(f, "first", first)
        for n, value in enumerate(after or ()):
            binds.put(f, f"after{n}", value)
        binds.fact(f, (own, ordering.name, after is not None))
        await super().bind(run, f, binds)

    def sql(self, builder: Builder, f: Field, row: Row | None) -> ColumnElement[str]:
        plan: ConnectionPlan = f.compiled
        own, ordering_name, has_after = builder.fact(f)
        query = self.source.query(builder, f, own, row)
        ordering = next(o for o in self.source.orderings if o.name == ordering_name)
        after = None
        if has_after:
            after = tuple(
                builder.param(f, f"after{n}", column.type) for n, column in enumerate(ordering.columns)
            )
        shape = ListShape(query, ordering, builder.param(f, "first", Integer()), after)
        page = _Page(builder, plan, shape, row.source if row else None)
        parts: list[tuple[str, ColumnElement[str]]] = []
        for key, name in plan.fields:
            if name == "edges":
                parts.append((key, render.array(page.edge(), page.order, page.in_page)))
            elif name == "pageInfo":
                parts.append((key, page.info()))
            elif name == "totalCount":
                total = _correlated(counting(shape.query), page.correlate).scalar_subquery()
                parts.append((key, render.count_text(total)))
            else:
                parts.append((key, render.constant(f'"{plan.type_names["connection"]}"')))
        connection = select(render.obj(parts))
        if plan.edge or plan.page_info:
            # Aggregates over the page, grouped as one grand total: one row, also for an empty page.
            connection = connection.select_from(page.source).group_by(literal_column("()"))
        return connection.scalar_subquery()


class _Page:
    """One connection's page as a subquery, and the JSON of its edges and pageInfo.

    hasNextPage reads one row past the page (numbered, so the page is the rows numbered up to `first`);
    without it the page is exactly `first` rows, aggregated in key order."""

    def __init__(
        self, builder: Builder, plan: ConnectionPlan, shape: ListShape, correlate: FromClause | None
    ) -> None:
        self.builder, self.plan, self.shape, self.correlate = builder, plan, shape, correlate
        ordering = shape.ordering
        self.looks_ahead = any(name == "hasNextPage" for _, name in plan.page_info)
        self.level = Level(shape.query, plan.node)
        self.level.add_columns(*(column.label(f"_k{n}") for n, column in enumerate(ordering.columns)))
        if self.looks_ahead:
            self.level.add_columns(func.row_number().over(order_by=ordering.clauses()).label("_n"))
        self.source = self.level.subquery(self._paged)
        self.keys = [self.source.c[f"_k{n}"] for n in range(len(ordering.columns))]
        numbered = self.source.c._n if self.looks_ahead else None
        self.in_page = numbered <= shape.first if numbered is not None else None
        forwards = [k.desc() if ordering.descending else k for k in self.keys]
        backwards = [k if ordering.descending else k.desc() for k in self.keys]
        self.order = [numbered] if numbered is not None else forwards
        self.backwards = [numbered.desc()] if numbered is not None else backwards

    def _paged(self, query: Select[Any]) -> Select[Any]:
        ordering = self.shape.ordering
        if self.shape.after is not None:
            query = query.where(ordering.after(self.shape.after))
        limit = self.shape.first + 1 if self.looks_ahead else self.shape.first
        return _correlated(query.order_by(*ordering.clauses()).limit(limit), self.correlate)

    @functools.cached_property
    def cursor(self) -> ColumnElement[str]:
        return self.builder.cursor(self.shape.ordering, self.keys)

    def edge(self) -> ColumnElement[str]:
        parts: list[tuple[str, ColumnElement[str]]] = []
        for key, name in self.plan.edge:
            if name == "cursor":
                parts.append((key, self.cursor))
            elif name == "node":
                node = self.plan.node
                assert node is not None
                parts.append((key, object_json(self.builder, node, self.level.row(node), self.level)))
            else:
                parts.append((key, render.constant(f'"{self.plan.type_names["edges"]}"')))
        return render.obj(parts)

    def info(self) -> ColumnElement[str]:
        parts: list[tuple[str, ColumnElement[str]]] = []
        for key, name in self.plan.page_info:
            if name == "hasNextPage":
                parts.append((key, render.boolean(func.count() > self.shape.first)))
            elif name == "hasPreviousPage":
                parts.append((key, render.constant("true" if self.shape.after is not None else "false")))
            elif name in ("startCursor", "endCursor"):
                order = self.order if name == "startCursor" else self.backwards
                cursors: ColumnElement[Any] = func.array_agg(aggregate_order_by(self.cursor, *order))
                if self.in_page is not None:
                    cursors = func.array_agg(aggregate_order_by(self.cursor, *order)).filter(self.in_page)
                parts.append((key, func.coalesce(cursors[1], render.constant("null"))))
            else:
                parts.append((key, render.constant(f'"{self.plan.type_names["pageInfo"]}"')))
        return render.obj(parts)
