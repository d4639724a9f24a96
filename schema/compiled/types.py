"""The object types the compiled path writes from SQL, field by field.

Every list reuses the query the resolvers page through (`db`), every value its one SQL definition, and
every argument the conversion the resolvers apply (`deal_list`, `page_request`), so the two paths cannot
read different rows; `db.render` writes the values as the API does.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, cast, select
from sqlalchemy.types import BigInteger

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
)
from db.pagination import ChildList
from db.pipelines import PIPELINE_COLUMNS, STAGE_COLUMNS, STAGES
from db.tables import deals, pipelines, stages, team_memberships, teams, users
from db.teams import CHILDREN, MEMBERSHIP_COLUMNS, MEMBERSHIPS, TEAM_COLUMNS, TEAM_ORDER, teams_query
from db.users import MANAGERS, USER_COLUMNS, USER_ORDER, members_query, users_query
from schema.compiled.plan import Field
from schema.compiled.sql import (
    TYPES,
    Columns,
    Connection,
    Emitter,
    ListSpec,
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

    async def sql(self, run: Run, field: Field, row: Row) -> ColumnElement[str]:
        return self.write(*(row.c[name] for name in self.columns))


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


async def _deal_spec(run: Run, parent_kind: str | None, parent: Any, arguments: dict[str, Any]) -> ListSpec:
    from schema.deals import deal_list  # noqa: PLC0415  (schema.deals imports the compiled path's users)

    where, order = await deal_list(run.context, arguments.get("filter"), arguments.get("order_by"))
    ordering = ORDERINGS[order]
    first, after = page_request(run.context, arguments.get("first"), arguments.get("after"), ordering.name)
    access = run.context.access
    if parent_kind == "owner":
        # A user's deals are all theirs: deal:view decided once on the owner, not on every deal.
        query = deals_query(where, access.owners("deal", "view", parent), "owner", parent)
    else:
        query = deals_query(where, access.deals_visible(), parent_kind, parent)
    return ListSpec(query, ordering, first, after)


async def _root_deals(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    return await _deal_spec(run, None, None, arguments)


async def _user_deals(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    assert row is not None
    return await _deal_spec(run, "owner", row.c.id, arguments)


async def _team_deals(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    assert row is not None
    return await _deal_spec(run, "team", row.c.id, arguments)


async def _history(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    assert row is not None
    first, after = page_request(
        run.context, arguments.get("first"), arguments.get("after"), HISTORY_ORDER.name
    )
    return ListSpec(history_query(row.c.id), HISTORY_ORDER, first, after)


async def _teams(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    first, after = page_request(run.context, arguments.get("first"), arguments.get("after"), TEAM_ORDER.name)
    return ListSpec(teams_query(roots_only=bool(arguments.get("roots_only"))), TEAM_ORDER, first, after)


async def _users(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    from schema import ids  # noqa: PLC0415

    first, after = page_request(run.context, arguments.get("first"), arguments.get("after"), USER_ORDER.name)
    team_id = arguments.get("team_id")
    search = arguments.get("search")
    query = users_query(
        search=search.strip() if search else None,
        team_id=ids.decode(team_id, "Team", "teamId") if team_id is not None else None,
        without_team=bool(arguments.get("without_team")),
    )
    return ListSpec(query, USER_ORDER, first, after)


async def _members(run: Run, row: Row | None, arguments: dict[str, Any]) -> ListSpec:
    assert row is not None
    first, after = page_request(run.context, arguments.get("first"), arguments.get("after"), USER_ORDER.name)
    query = members_query(row.c.id, with_descendants=bool(arguments.get("include_descendants")))
    return ListSpec(query, USER_ORDER, first, after)


def _primary_team(alias: Any, user: Columns, query: Select[Any]) -> tuple[ColumnElement[bool], Select[Any]]:
    membership = team_memberships.alias()
    query = query.outerjoin(membership, and_(membership.c.user_id == user.id, membership.c.is_primary))
    return alias.c.id == membership.c.team_id, query


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
        "history": Connection(_history),
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
        "deals": Connection(_user_deals),
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
        "members": Connection(_members),
        "deals": Connection(_team_deals),
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
        "deals": Connection(_root_deals),
        "teams": Connection(_teams),
        "users": Connection(_users),
    },
)


def by_id_query(type_name: str, run: Run, key: int) -> Select[Any]:
    """The row of `type_name` with this key, if the viewer may see it (node)."""
    if type_name == "Deal":
        return deals_query(DealFilter(), run.context.access.deals_visible()).where(deals.c.id == key)
    table = TYPES[type_name].table
    assert table is not None
    return select(*TYPES[type_name].columns.values()).where(table.c.id == key)
