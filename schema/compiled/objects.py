"""The fields the compiled path writes from Python objects rather than from SQL: the root (Query), the
viewer, the company settings and the forecast table.

Python-built objects are written by a writer compiled once per selection from Strawberry's own type
definitions: plain fields are read as attributes, resolvers that need nothing but the object are called,
values are serialized by the schema's own scalars and enums, so the bytes are the executor's. Fields
that would need I/O, arguments or `info` are not written here (the operation falls back), except those
given an emitter below. SQL-backed parts under a Python object become columns of the one statement.
"""

from collections.abc import Callable, Sequence
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
from sqlalchemy import ColumnElement, Text, case, literal, select
from strawberry.relay import Node, to_base64

from db import render
from db.pipelines import PIPELINE_COLUMNS
from db.tables import exchange_rates, pipelines, users
from db.users import USER_COLUMNS
from db.vocabulary import MONTH, PERIOD_KINDS, QUARTER
from schema import ids
from schema.compiled.plan import TYPENAME, Document, Field, Obj, Selected, Unsupported
from schema.compiled.sql import TYPES, Emitter, Level, Row, Run, SqlType, field_json, many, single
from schema.compiled.types import Column, by_id_query

Writer = Callable[[Any], Any]
# A prepared field: called with the statement's row once it has run, returns the field's JSON value.
Written = Callable[[Sequence[str]], Any]


class FallBack(Exception):
    """A value the compiled writer cannot write as the executor would (a null in a non-null field)."""


@dataclass
class Statement:
    """The columns of the request's one statement, in order."""

    columns: list[ColumnElement[str]]

    def add(self, column: ColumnElement[str]) -> Written:
        index = len(self.columns)
        self.columns.append(column)
        return lambda row: orjson.Fragment(row[index])


class PyEmitter:
    """A field written from Python at a position that is not inside a SQL list."""

    def compile(self, document: Document, selected: Selected) -> Any:
        return None

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
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
        write = _serializer(document, selected.definition.type, selected.nodes)
        steps.append((selected.key, _composed(read, write)))

    def writer(obj: Any) -> dict[str, Any]:
        return {key: step(obj) for key, step in steps}

    return writer


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


def _composed(read: Callable[[Any], Any], write: Callable[[Any], Any]) -> Callable[[Any], Any]:
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


class CurrentPeriod(Emitter):
    """Pipeline.currentPeriod: today's period of each kind, written once in Python, chosen per row."""

    columns = ("period_kind",)

    def compile(self, document: Document, selected: Selected) -> Writer:
        return _writer_of_field(document, selected)

    async def sql(self, run: Run, field: Field, row: Row) -> ColumnElement[str]:
        from resolvers.pipelines import company_settings, current_period_of  # noqa: PLC0415
        from schema.pipelines import PeriodInfo  # noqa: PLC0415

        fiscal_start = (await company_settings(run.context)).fiscal_year_start_month
        written = {}
        for kind in PERIOD_KINDS:
            info = PeriodInfo.of(await current_period_of(run.context, kind), fiscal_start)
            written[kind] = literal(orjson.dumps(field.compiled(info)).decode(), Text)
        return case((row.c.period_kind == MONTH, written[MONTH]), else_=written[QUARTER])


TYPES["Pipeline"].fields["currentPeriod"] = CurrentPeriod()


# Root fields


class SqlRoot(PyEmitter):
    """A root field written from SQL: a column of the statement."""

    def __init__(self, emitter: Any) -> None:
        self.emitter = emitter

    def compile(self, document: Document, selected: Selected) -> Any:
        return self.emitter.compile(document, selected)

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        inner = Field(field.selected, self.emitter, field.compiled)
        return statement.add(await self.emitter.sql(run, inner, None))


class Pipelines(PyEmitter):
    def compile(self, document: Document, selected: Selected) -> Obj:
        return document.compile_field_type(selected)

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        query = select(*PIPELINE_COLUMNS.values())
        return statement.add(await many(run, field.compiled, query, [pipelines.c.id]))


class ExchangeRates(PyEmitter):
    def compile(self, document: Document, selected: Selected) -> Obj:
        return document.compile_field_type(selected)

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        query = select(*EXCHANGE_RATE.columns.values())
        order = [exchange_rates.c.currency, exchange_rates.c.valid_from.desc()]
        return statement.add(await many(run, field.compiled, query, order))


EXCHANGE_RATE = TYPES["ExchangeRate"] = SqlType(
    "ExchangeRate",
    {c.name: c for c in (exchange_rates.c.currency, exchange_rates.c.rate, exchange_rates.c.valid_from)},
    None,
    {
        "currency": Column(render.string, "currency"),
        "rate": Column(render.decimal, "rate"),
        "validFrom": Column(render.day, "valid_from"),
    },
)


class NodeById(PyEmitter):
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

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        global_id = run.arguments(field.selected)["id"]
        parts = ids.split(global_id)
        if parts is None or not parts[1].isdecimal() or len(parts[1]) > 18 or parts[0] not in field.compiled:
            raise Unsupported("node: an ID the executor answers")
        type_name, key = parts[0], int(parts[1])
        return statement.add(await single(run, field.compiled[type_name], by_id_query(type_name, run, key)))


class Settings(PyEmitter):
    def compile(self, document: Document, selected: Selected) -> Writer:
        return _writer_of_field(document, selected)

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        from resolvers.pipelines import company_settings  # noqa: PLC0415
        from schema.pipelines import CompanySettings  # noqa: PLC0415

        value = field.compiled(CompanySettings.of(await company_settings(run.context)))
        return lambda row: value


def _writer_of_field(document: Document, selected: Selected) -> Writer:
    assert selected.definition is not None
    return _serializer(document, selected.definition.type, selected.nodes)


class ForecastTable(PyEmitter):
    """forecast(pipelineId, period, teamId): the table from the forecast engine, written in one pass."""

    def compile(self, document: Document, selected: Selected) -> Writer:
        return _writer_of_field(document, selected)

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        from schema.forecasts import forecast_table  # noqa: PLC0415  (forecasts import users, teams…)

        table = await forecast_table(run.context, **run.arguments(field.selected))
        value = field.compiled(table)
        return lambda row: value


class Viewer(PyEmitter):
    """viewer: its SQL-backed fields are columns read on the viewer's row; its forecast row is Python."""

    def compile(self, document: Document, selected: Selected) -> list[Field]:
        type_ = document.object_type("User")
        fields: list[Field] = []
        for sub in document.selection(type_, selected.nodes):
            if sub.name == "forecast":
                fields.append(Field(sub, USER_FORECAST, USER_FORECAST.compile(document, sub)))
                continue
            emitter = TYPES["User"].fields.get(sub.name) if sub.name != TYPENAME else None
            if sub.name != TYPENAME and emitter is None:
                raise Unsupported(f"User.{sub.name}")
            fields.append(Field(sub, emitter, emitter.compile(document, sub) if emitter else None))
        return fields

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        user_type = run.document.object_type("User")
        in_sql = Obj(user_type, [f for f in field.compiled if f.emitter not in (None, USER_FORECAST)])
        level = Level(select(*USER_COLUMNS.values()).where(users.c.id == run.context.viewer.id), in_sql)
        source = level.subquery()
        row = level.row(in_sql)
        written: list[tuple[str, Written]] = []
        for sub in field.compiled:
            key = sub.selected.key
            if sub.emitter is None:
                written.append((key, lambda row: "User"))
            elif sub.emitter is USER_FORECAST:
                written.append((key, await USER_FORECAST.prepare(run, sub, statement)))
            else:
                json = await field_json(run, in_sql, sub, row, level)
                written.append((key, statement.add(select(json).select_from(source).scalar_subquery())))
        return lambda row: {key: write(row) for key, write in written}


class UserForecast(PyEmitter):
    """The viewer's forecast row (User.forecast)."""

    def compile(self, document: Document, selected: Selected) -> Writer:
        return _writer_of_field(document, selected)

    async def prepare(self, run: Run, field: Field, statement: Statement) -> Written:
        from schema.forecasts import subject_forecast_row  # noqa: PLC0415

        arguments = run.arguments(field.selected)
        row = await subject_forecast_row(run.context, "user", run.context.viewer.id, **arguments)
        value = field.compiled(row)
        return lambda _: value


USER_FORECAST = UserForecast()

ROOT: dict[str, PyEmitter] = {
    "viewer": Viewer(),
    "node": NodeById(),
    "pipelines": Pipelines(),
    "exchangeRates": ExchangeRates(),
    "settings": Settings(),
    "forecast": ForecastTable(),
    **{name: SqlRoot(emitter) for name, emitter in TYPES["Query"].fields.items()},
}


async def prepare_root(run: Run, plan: Obj, statement: Statement) -> list[tuple[str, Written]]:
    written: list[tuple[str, Written]] = []
    for field in plan.fields:
        if field.selected.name == TYPENAME:
            written.append((field.selected.key, lambda row: "Query"))
        else:
            written.append((field.selected.key, await field.emitter.prepare(run, field, statement)))
    return written


def lookup_root(field_name: str) -> PyEmitter | None:
    return ROOT.get(field_name)


__all__ = ["ROOT", "FallBack", "Statement", "Written", "lookup_root", "prepare_root"]
