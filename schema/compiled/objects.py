"""The root of a compiled operation, and the fields written from Python objects rather than from SQL:
the viewer, the company settings and the forecast table.

Python-built objects are written by a writer compiled once per selection from Strawberry's own type
definitions: plain fields are read as attributes, resolvers that need nothing but the object are called,
values are serialized by the schema's own scalars and enums, so the bytes are the executor's. Fields
that would need I/O, arguments or `info` are not written here (the operation falls back), except those
given an emitter below. SQL-backed parts under a Python object become columns of the one statement.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    is_abstract_type,
)
from sqlalchemy import ColumnElement, Text, case, select
from sqlalchemy.types import BigInteger
from strawberry.relay import Node, to_base64

from authz.access import VIEWER
from db import render
from db.forecasts import Subject
from db.pipelines import PIPELINE_COLUMNS, RATE_COLUMNS
from db.tables import exchange_rates, pipelines, users
from db.users import USER_COLUMNS
from db.vocabulary import MONTH, PERIOD_KINDS
from schema import ids
from schema.compiled.plan import TYPENAME, Document, Field, Obj, Selected, Unsupported
from schema.compiled.sql import (
    TYPES,
    Binds,
    Builder,
    Emitter,
    Level,
    Row,
    Run,
    SqlType,
    bind_all,
    field_json,
    many,
    single,
)
from schema.compiled.types import Column, by_id_query

Writer = Callable[[Any], Any]


class FallBack(Exception):
    """A value the compiled writer cannot write as the executor would (a null in a non-null field)."""


class RootEmitter:
    """A root field: the values it binds, the statement columns it reads (per statement shape), and
    its JSON value written from those columns (per request)."""

    def compile(self, document: Document, selected: Selected) -> Any:
        return None

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        return None

    def columns(self, builder: Builder, f: Field) -> list[ColumnElement[str]]:
        return []

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        raise NotImplementedError


# The generic writer of Strawberry objects


def compile_writer(document: Document, type_: GraphQLObjectType, nodes: Sequence[Any]) -> Writer:
    """A function writing a Strawberry object of `type_` for this selection, as the executor would."""
    steps: list[tuple[str, Callable[[Any], Any]]] = []
    for selected in document.selection(type_, nodes):
        if selected.definition is None:
            steps.append((selected.key, _constant(type_.name)))
            continue
        strawberry_field = selected.definition.extensions["strawberry-definition"]
        read = _reader(type_, selected, strawberry_field)
        steps.append((selected.key, _step(document, read, selected.definition.type, selected.nodes)))

    def writer(obj: Any) -> dict[str, Any]:
        return {key: step(obj) for key, step in steps}

    return writer


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


def _step(
    document: Document, read: Callable[[Any], Any], type_: GraphQLOutputType, nodes: Sequence[Any]
) -> Callable[[Any], Any]:
    """One field of an object: read and serialized in one call where the type is a (non-null) scalar —
    the common case, and the one a table of rows repeats — else read, then written by _serializer."""
    required = isinstance(type_, GraphQLNonNull)
    inner: Any = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
        serialize = inner.serialize
        if required:

            def required_scalar(obj: Any) -> Any:
                value = read(obj)
                if value is None:
                    raise FallBack("null in a non-null field")
                return serialize(value)

            return required_scalar

        def scalar(obj: Any) -> Any:
            value = read(obj)
            return None if value is None else serialize(value)

        return scalar
    write = _serializer(document, type_, nodes)
    return lambda obj: write(read(obj))


def _reader(type_: GraphQLObjectType, selected: Selected, strawberry_field: Any) -> Callable[[Any], Any]:
    resolver = strawberry_field.base_resolver
    if selected.name == "id" and resolver is not None and strawberry_field.python_name == "_id":
        # A relay Node's global ID, as Node._id writes it.
        def node_id(obj: Node) -> str:
            return to_base64(type_.name, getattr(obj, obj.resolve_id_attr()))

        return node_id
    if resolver is None:
        name = strawberry_field.python_name
        return lambda obj: getattr(obj, name)
    if not resolver.is_async and list(resolver.signature.parameters) == ["self"]:
        call: Callable[[Any], Any] = resolver.wrapped_func
        return call
    raise Unsupported(f"{type_.name}.{selected.name} needs its resolver")


def _serializer(document: Document, type_: GraphQLOutputType, nodes: Sequence[Any]) -> Callable[[Any], Any]:
    if isinstance(type_, GraphQLNonNull):
        inner = _serializer(document, type_.of_type, nodes)

        def required(value: Any) -> Any:
            if value is None:
                raise FallBack("null in a non-null field")
            return inner(value)

        return required
    if isinstance(type_, GraphQLList):
        item = _serializer(document, type_.of_type, nodes)
        return lambda value: None if value is None else [item(v) for v in value]
    if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
        serialize = type_.serialize
        return lambda value: None if value is None else serialize(value)
    if isinstance(type_, GraphQLObjectType):
        write = compile_writer(document, type_, nodes)
        return lambda value: None if value is None else write(value)
    if is_abstract_type(type_):
        writers = {
            possible.name: compile_writer(document, possible, nodes)
            for possible in document.schema.get_possible_types(type_)
        }

        def abstract(value: Any) -> Any:
            if value is None:
                return None
            return writers[value.__strawberry_definition__.name](value)

        return abstract
    raise Unsupported(f"cannot write {type_}")


def _writer_of_field(document: Document, selected: Selected) -> Writer:
    assert selected.definition is not None
    return _serializer(document, selected.definition.type, selected.nodes)


# Fields of SQL objects that Python writes (once per request, chosen per row in SQL)


class CurrentPeriod(Emitter):
    """Pipeline.currentPeriod: today's period of each kind, written once in Python, chosen per row."""

    columns = ("period_kind",)

    def compile(self, document: Document, selected: Selected) -> Writer:
        return _writer_of_field(document, selected)

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        from resolvers.pipelines import company_settings, current_period_of  # noqa: PLC0415
        from schema.pipelines import PeriodInfo  # noqa: PLC0415

        fiscal_start = (await company_settings(run.context)).fiscal_year_start_month
        for kind in PERIOD_KINDS:
            info = PeriodInfo.of(await current_period_of(run.context, kind), fiscal_start)
            binds.put(f, kind, orjson.dumps(f.compiled(info)).decode())

    def sql(self, builder: Builder, f: Field, row: Row) -> ColumnElement[str]:
        month, quarter = (builder.param(f, kind, Text()) for kind in PERIOD_KINDS)
        return case((row.c.period_kind == MONTH, month), else_=quarter)


TYPES["Pipeline"].fields["currentPeriod"] = CurrentPeriod()
EXCHANGE_RATE = TYPES["ExchangeRate"] = SqlType(
    "ExchangeRate",
    RATE_COLUMNS,
    None,
    {
        "currency": Column(render.string, "currency"),
        "rate": Column(render.decimal, "rate"),
        "validFrom": Column(render.day, "valid_from"),
    },
)


# Root fields


def _fragment(row: Sequence[str]) -> Any:
    return orjson.Fragment(row[0])


class SqlRoot(RootEmitter):
    """A root field written from SQL: one column of the statement."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter

    def compile(self, document: Document, selected: Selected) -> Any:
        return self.emitter.compile(document, selected)

    def _field(self, f: Field) -> Field:
        return Field(f.selected, self.emitter, f.compiled, f.pid)

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        await self.emitter.bind(run, self._field(f), binds)

    def columns(self, builder: Builder, f: Field) -> list[ColumnElement[str]]:
        return [self.emitter.sql(builder, self._field(f), None)]  # type: ignore[arg-type]  # no parent row

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        return _fragment(row)


class ListOf(RootEmitter):
    """A root list read whole (pipelines, exchange rates)."""

    def __init__(self, query: Callable[[], Any], order: Callable[[], list[Any]]) -> None:
        self.query, self.order = query, order

    def compile(self, document: Document, selected: Selected) -> Obj:
        return document.compile_field_type(selected)

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        await bind_all(run, (f.compiled,), binds)

    def columns(self, builder: Builder, f: Field) -> list[ColumnElement[str]]:
        return [many(builder, f.compiled, self.query(), self.order())]

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        return _fragment(row)


class NodeById(RootEmitter):
    """node(id): a user, team, pipeline, stage or deal, read by its global ID in the statement."""

    TYPES = ("User", "Team", "Pipeline", "Stage", "Deal")

    def compile(self, document: Document, selected: Selected) -> dict[str, Obj]:
        plans: dict[str, Obj] = {}
        for name in self.TYPES:
            try:
                plans[name] = document.compile(document.object_type(name), selected.nodes)
            except Unsupported:
                continue
        return plans

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        parts = ids.split(run.arguments(f.selected)["id"])
        if parts is None or not parts[1].isdecimal() or len(parts[1]) > 18 or parts[0] not in f.compiled:
            raise Unsupported("node: an ID the executor answers")
        binds.fact(f, parts[0])
        binds.put(f, "key", int(parts[1]))
        await bind_all(run, (f.compiled[parts[0]],), binds)

    def columns(self, builder: Builder, f: Field) -> list[ColumnElement[str]]:
        type_name = builder.fact(f)
        query = by_id_query(builder, type_name, builder.param(f, "key", BigInteger()))
        return [single(builder, f.compiled[type_name], query)]

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        return _fragment(row)


class Settings(RootEmitter):
    def compile(self, document: Document, selected: Selected) -> Writer:
        return _writer_of_field(document, selected)

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        from resolvers.pipelines import company_settings  # noqa: PLC0415
        from schema.pipelines import CompanySettings  # noqa: PLC0415

        return f.compiled(CompanySettings.of(await company_settings(run.context)))


@dataclass(frozen=True)
class _Rows:
    """The writer of forecast rows, and whether the selection asks for their predictions."""

    writer: Writer
    predict: bool

    def __call__(self, value: Any) -> Any:
        return self.writer(value)


def _rows_writer(document: Document, selected: Selected) -> _Rows:
    from schema.forecasts import asks_prediction  # noqa: PLC0415

    predict = asks_prediction(selected.nodes, document.fragments)
    return _Rows(_writer_of_field(document, selected), predict)


class ForecastTable(RootEmitter):
    """forecast(pipelineId, period, teamId): the table from the forecast engine, written in one pass."""

    def compile(self, document: Document, selected: Selected) -> Writer:
        return _rows_writer(document, selected)

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        from schema.forecasts import forecast_table  # noqa: PLC0415  (forecasts import users, teams…)

        table = await forecast_table(run.context, **run.arguments(f.selected), predict=f.compiled.predict)
        return f.compiled(table)


class Viewer(RootEmitter):
    """viewer: its SQL-backed fields are columns read on the viewer's row; its forecast row is Python."""

    def compile(self, document: Document, selected: Selected) -> Obj:
        type_ = document.object_type("User")
        fields: list[Field] = []
        for sub in document.selection(type_, selected.nodes):
            if sub.name == "forecast":
                fields.append(document.field(sub, USER_FORECAST))
                continue
            emitter = TYPES["User"].fields.get(sub.name) if sub.name != TYPENAME else None
            if sub.name != TYPENAME and emitter is None:
                raise Unsupported(f"User.{sub.name}")
            fields.append(document.field(sub, emitter or _NO_SQL))
        return Obj(type_, fields)

    def _in_sql(self, f: Field) -> Obj:
        return Obj(
            f.compiled.type, [sub for sub in f.compiled.fields if sub.emitter not in (_NO_SQL, USER_FORECAST)]
        )

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        await bind_all(run, (self._in_sql(f),), binds)

    def columns(self, builder: Builder, f: Field) -> list[ColumnElement[str]]:
        in_sql = self._in_sql(f)
        level = Level(select(*USER_COLUMNS.values()).where(users.c.id == VIEWER), in_sql)
        source = level.subquery()
        row = level.row(in_sql)
        return [
            select(field_json(builder, in_sql, sub, row, level)).select_from(source).scalar_subquery()
            for sub in in_sql.fields
        ]

    async def write(self, run: Run, f: Field, row: Sequence[str]) -> Any:
        columns = iter(row)
        written: dict[str, Any] = {}
        for sub in f.compiled.fields:
            if sub.emitter is _NO_SQL:
                written[sub.selected.key] = "User"
            elif sub.emitter is USER_FORECAST:
                written[sub.selected.key] = await USER_FORECAST.write(run, sub)
            else:
                written[sub.selected.key] = orjson.Fragment(next(columns))
        return written


class _NoSql(Emitter):
    """__typename of a Python-written object."""


_NO_SQL = _NoSql()


class UserForecast(Emitter):
    """The viewer's forecast row (User.forecast)."""

    def compile(self, document: Document, selected: Selected) -> Writer:
        return _rows_writer(document, selected)

    async def write(self, run: Run, f: Field) -> Any:
        from schema.forecasts import subject_forecast_row  # noqa: PLC0415

        viewer = Subject.user(run.context.viewer.id)
        arguments = run.arguments(f.selected)
        return f.compiled(
            await subject_forecast_row(run.context, viewer, **arguments, predict=f.compiled.predict)
        )


USER_FORECAST = UserForecast()

ROOT: dict[str, RootEmitter] = {
    "viewer": Viewer(),
    "node": NodeById(),
    "pipelines": ListOf(lambda: select(*PIPELINE_COLUMNS.values()), lambda: [pipelines.c.id]),
    "exchangeRates": ListOf(
        lambda: select(*EXCHANGE_RATE.columns.values()),
        lambda: [exchange_rates.c.currency, exchange_rates.c.valid_from.desc()],
    ),
    "settings": Settings(),
    "forecast": ForecastTable(),
    **{name: SqlRoot(emitter) for name, emitter in TYPES["Query"].fields.items()},
}


def lookup_root(field_name: str) -> RootEmitter | None:
    return ROOT.get(field_name)


def root_fields(plan: Obj) -> Iterable[Field]:
    return (f for f in plan.fields if f.selected.name != TYPENAME)
