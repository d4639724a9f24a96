"""The object types the compiled path writes from SQL, field by field.

Every list reuses the query the resolvers page through (`db`), every value its one SQL definition, and
every argument the conversion the resolvers apply (`deal_list`, `page_request`, `ids.decode`), so the two
paths cannot read different rows; `db.render` writes the values as the API does. Arguments bind as
values; the SQL holds parameters in their place.
"""

from collections.abc import Callable, Hashable
from dataclasses import fields as dataclass_fields
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Select,
    Text,
    and_,
    case,
    cast,
    select,
)
from sqlalchemy.types import TypeEngine

from db import render
from db.deals import (
    CHANGE_COLUMNS,
    DEAL_COLUMNS,
    HISTORY_ORDER,
    ORDERINGS,
    SHOWN_AS_ID,
    DealFilter,
    deals_query,
    history_query,
    signals,
)
from db.pagination import ChildList, Ordering
from db.pipelines import PIPELINE_COLUMNS, STAGE_COLUMNS, STAGES
from db.tables import deals, pipelines, stages, team_memberships, teams, users
from db.teams import CHILDREN, MEMBERSHIP_COLUMNS, MEMBERSHIPS, TEAM_COLUMNS, TEAM_ORDER, teams_query
from db.users import MANAGERS, USER_COLUMNS, USER_ORDER, like_pattern, members_query, users_query
from resolvers.deals import signal_moments
from schema import ids
from schema.compiled.plan import Field
from schema.compiled.sql import (
    TYPES,
    Binds,
    Builder,
    Columns,
    Connection,
    Emitter,
    ListSource,
    Row,
    Run,
    SqlType,
    ToMany,
    ToOne,
)
from schema.pagination import page_request


class Column(Emitter):
    """A value of the row, written by a renderer."""

    def __init__(self, write: Callable[..., ColumnElement[str]], *columns: str) -> None:
        self.write = write
        self.columns = columns

    def sql(self, builder: Builder, f: Field, row: Row) -> ColumnElement[str]:
        return self.write(*(row.c[name] for name in self.columns))


class Signal(Emitter):
    """Deal.stageMovement and Deal.weightedChange (from, to): db.deals.signals, with the range's moments
    as parameters (a reversed range is the executor's BAD_USER_INPUT)."""

    columns = ("id", "stage_id", "amount", "currency", "probability", "created_at")

    def __init__(self, which: int) -> None:
        self.which = which  # 0: the stage movement, 1: the weighted change

    async def bind(self, run: Run, f: Field, binds: Binds) -> None:
        arguments = run.arguments(f.selected)
        since, until = signal_moments(arguments["from_"], arguments["to"])
        binds.put(f, "since", since)
        binds.put(f, "until", until)

    def sql(self, builder: Builder, f: Field, row: Row) -> ColumnElement[str]:
        since, until = (builder.param(f, name, DateTime(timezone=True)) for name in ("since", "until"))
        return render.string(signals(row.c.__getitem__, since, until)[self.which])


def _id(type_name: str) -> Column:
    return Column(lambda key: render.global_id(type_name, key), "id")


def _children(children: ChildList) -> ToMany:
    return ToMany(lambda row: children.of(row.c.id), children.order)


def _shown(field_column: ColumnElement[Any], value: ColumnElement[Any]) -> ColumnElement[str]:
    """A history value as the API shows it: keys of stages and owners as their global IDs."""
    return case(
        *(
            (
                and_(field_column == name, value.is_not(None)),
                render.global_id(type_name, cast(value, BigInteger)),
            )
            for name, type_name in SHOWN_AS_ID.items()
        ),
        else_=render.string(value),
    )


def _primary_team(alias: Any, user: Columns, query: Select[Any]) -> tuple[ColumnElement[bool], Select[Any]]:
    membership = team_memberships.alias()
    query = query.outerjoin(membership, and_(membership.c.user_id == user.id, membership.c.is_primary))
    return alias.c.id == membership.c.team_id, query


# Lists


# The SQL type of each DealFilter field's parameter (lists are arrays; `search` is the LIKE pattern).
_FILTER_TYPES: dict[str, TypeEngine[Any]] = {
    "pipeline_id": BigInteger(),
    "close_from": Date(),
    "close_to": Date(),
    "stage_ids": ARRAY(BigInteger),
    "categories": ARRAY(Text),
    "owner_ids": ARRAY(BigInteger),
    "team_id": BigInteger(),
    "state": Text(),
    "search": Text(),
}


class Deals(ListSource):
    """Deals: the root list, a user's (`owner`) or a team's with its descendants (`team`)."""

    orderings = tuple(ORDERINGS.values())

    def __init__(self, parent_kind: str | None) -> None:
        self.parent_kind = parent_kind

    def ordering_of(self, arguments: dict[str, Any]) -> Ordering:
        order = arguments.get("order_by")
        return ORDERINGS[order.value if order else "CLOSE_DATE_ASC"]

    async def bind(self, run: Run, f: Field, arguments: dict[str, Any], binds: Binds) -> Hashable:
        from schema.deals import deal_list  # noqa: PLC0415  (schema.deals imports schema.users…)

        where, _ = await deal_list(run.context, arguments.get("filter"), arguments.get("order_by"))
        given = []
        for name in _FILTER_TYPES:
            value = getattr(where, name)
            if value is not None:
                binds.put(f, name, like_pattern(value) if name == "search" else _listed(value))
                given.append(name)
        return tuple(given)

    def query(self, builder: Builder, f: Field, facts: Any, row: Row | None) -> Select[Any]:
        where = DealFilter(**{name: builder.param(f, name, _FILTER_TYPES[name]) for name in facts})
        if self.parent_kind == "owner":
            assert row is not None
            # A user's deals are all theirs: deal:view decided once on the owner, not on every deal.
            return deals_query(where, builder.visible(row.c.id), "owner", row.c.id)
        parent = row.c.id if row is not None and self.parent_kind else None
        return deals_query(where, builder.visible(deals.c.owner_id), self.parent_kind, parent)


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class History(ListSource):
    orderings = (HISTORY_ORDER,)

    def query(self, builder: Builder, f: Field, facts: Any, row: Row | None) -> Select[Any]:
        assert row is not None
        return history_query(row.c.id)


class Teams(ListSource):
    orderings = (TEAM_ORDER,)

    async def bind(self, run: Run, f: Field, arguments: dict[str, Any], binds: Binds) -> Hashable:
        return bool(arguments.get("roots_only"))

    def query(self, builder: Builder, f: Field, facts: Any, row: Row | None) -> Select[Any]:
        return teams_query(roots_only=facts)


class Users(ListSource):
    orderings = (USER_ORDER,)

    async def bind(self, run: Run, f: Field, arguments: dict[str, Any], binds: Binds) -> Hashable:
        search = (arguments.get("search") or "").strip()
        team_id = arguments.get("team_id")
        if search:
            binds.put(f, "search", like_pattern(search))
        if team_id is not None:
            binds.put(f, "team_id", ids.decode(team_id, "Team", "teamId"))
        return bool(search), team_id is not None, bool(arguments.get("without_team"))

    def query(self, builder: Builder, f: Field, facts: Any, row: Row | None) -> Select[Any]:
        search, team, without_team = facts
        return users_query(
            search=builder.param(f, "search", Text()) if search else None,
            team_id=builder.param(f, "team_id", BigInteger()) if team else None,
            without_team=without_team,
        )


class Members(ListSource):
    orderings = (USER_ORDER,)

    async def bind(self, run: Run, f: Field, arguments: dict[str, Any], binds: Binds) -> Hashable:
        return bool(arguments.get("include_descendants"))

    def query(self, builder: Builder, f: Field, facts: Any, row: Row | None) -> Select[Any]:
        assert row is not None
        return members_query(row.c.id, with_descendants=facts)


def _connection(source: ListSource) -> Connection:
    return Connection(source, page_request)


TYPES["Deal"] = SqlType(
    "Deal",
    DEAL_COLUMNS,
    None,
    {
        "id": _id("Deal"),
        "name": Column(render.string, "name"),
        "amount": Column(render.decimal, "amount"),
        "currency": Column(render.string, "currency"),
        "probability": Column(render.floating, "probability"),
        "forecastCategory": Column(render.string, "forecast_category"),
        "forecastCategoryIsManual": Column(render.boolean, "forecast_category_is_manual"),
        "closeDate": Column(render.day, "close_date"),
        "createdAt": Column(render.moment, "created_at"),
        "updatedAt": Column(render.moment, "updated_at"),
        "nextStep": Column(render.string, "next_step"),
        "version": Column(render.integer, "version"),
        "amountInCompanyCurrency": Column(render.money, "amount_c"),
        "weightedAmount": Column(render.money, "weighted_amount"),
        "owner": ToOne("User", "owner_id", nullable=True),
        "pipeline": ToOne("Pipeline", "pipeline_id", nullable=False),
        "stage": ToOne("Stage", "stage_id", nullable=False),
        "history": _connection(History()),
        "stageMovement": Signal(0),
        "weightedChange": Signal(1),
    },
)
TYPES["DealChange"] = SqlType(
    "DealChange",
    CHANGE_COLUMNS,
    None,
    {
        "at": Column(render.moment, "at"),
        "actor": ToOne("User", "actor_id", nullable=True),
        "field": Column(render.string, "field"),
        "oldValue": Column(_shown, "field", "old_value"),
        "newValue": Column(_shown, "field", "new_value"),
        "oldStage": ToOne("Stage", "old_stage_id", nullable=True),
        "newStage": ToOne("Stage", "new_stage_id", nullable=True),
        "oldOwner": ToOne("User", "old_owner_id", nullable=True),
        "newOwner": ToOne("User", "new_owner_id", nullable=True),
    },
)
TYPES["User"] = SqlType(
    "User",
    USER_COLUMNS,
    users,
    {
        "id": _id("User"),
        "name": Column(render.string, "name"),
        "email": Column(render.string, "email"),
        "active": Column(render.boolean, "active"),
        "salesSeat": Column(render.boolean, "sales_seat"),
        "primaryTeam": ToOne("Team", "id", nullable=True, on=_primary_team),
        "memberships": _children(MEMBERSHIPS),
        "deals": _connection(Deals("owner")),
    },
)
TYPES["TeamMembership"] = SqlType(
    "TeamMembership",
    MEMBERSHIP_COLUMNS,
    team_memberships,
    {
        "team": ToOne("Team", "team_id", nullable=False),
        "user": ToOne("User", "user_id", nullable=False),
        "role": Column(render.string, "role"),
        "primary": Column(render.boolean, "is_primary"),
    },
)
TYPES["Team"] = SqlType(
    "Team",
    TEAM_COLUMNS,
    teams,
    {
        "id": _id("Team"),
        "name": Column(render.string, "name"),
        "parent": ToOne("Team", "parent_id", nullable=True),
        "children": _children(CHILDREN),
        "managers": _children(MANAGERS),
        "members": _connection(Members()),
        "deals": _connection(Deals("team")),
    },
)
TYPES["Stage"] = SqlType(
    "Stage",
    STAGE_COLUMNS,
    stages,
    {
        "id": _id("Stage"),
        "label": Column(render.string, "label"),
        "displayOrder": Column(render.integer, "display_order"),
        "probability": Column(render.floating, "probability"),
        "state": Column(render.string, "state"),
        "forecastCategory": Column(render.string, "forecast_category"),
    },
)
TYPES["Pipeline"] = SqlType(
    "Pipeline",
    PIPELINE_COLUMNS,
    pipelines,
    {
        "id": _id("Pipeline"),
        "name": Column(render.string, "name"),
        "periodKind": Column(render.string, "period_kind"),
        "forecastAmount": Column(render.string, "forecast_amount"),
        "stages": _children(STAGES),
    },
)
TYPES["Query"] = SqlType(
    "Query",
    {},
    None,
    {
        "deals": _connection(Deals(None)),
        "teams": _connection(Teams()),
        "users": _connection(Users()),
    },
)


def by_id_query(builder: Builder, type_name: str, key: ColumnElement[int]) -> Select[Any]:
    """The row of `type_name` with this key, if the viewer may see it (node)."""
    if type_name == "Deal":
        return deals_query(DealFilter(), builder.visible(deals.c.owner_id)).where(deals.c.id == key)
    table = TYPES[type_name].table
    assert table is not None
    return select(*TYPES[type_name].columns.values()).where(table.c.id == key)


assert {f.name for f in dataclass_fields(DealFilter)} == set(_FILTER_TYPES)  # every filter field binds
