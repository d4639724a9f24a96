"""Users: reads and writes."""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Text,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.pagination import ChildList, Ordering, Page, PageRequest, fetch_page, fetch_pages
from db.pipelines import CompanySettingsRecord
from db.records import columns_of, record_of
from db.tables import company_settings, team_memberships, user_preferences, users
from db.teams import members_of, team_reach
from db.vocabulary import MANAGER


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    email: str
    active: bool
    sales_seat: bool


USER_COLUMNS = columns_of(UserRecord, users)  # a UserRecord's values by field name
_COLUMNS = tuple(USER_COLUMNS.values())
USER_ORDER = Ordering("users.NAME_ASC", (users.c.name, users.c.id))


def user_record(row: Any) -> UserRecord:
    return record_of(UserRecord, row)


def user_columns() -> tuple[Any, ...]:
    return _COLUMNS


_record = user_record


def like_pattern(text: str) -> str:
    """`text` as a case-insensitive substring pattern, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def users_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, UserRecord]:
    rows = await conn.execute(select(*_COLUMNS).where(users.c.id.in_(list(ids))))
    return {row.id: _record(row) for row in rows}


async def user_by_email(conn: AsyncConnection, email: str) -> UserRecord | None:
    row = (await conn.execute(select(*_COLUMNS).where(func.lower(users.c.email) == email.lower()))).first()
    return _record(row) if row else None


async def email_taken(conn: AsyncConnection, email: str, *, except_id: int | None = None) -> bool:
    query = exists().where(func.lower(users.c.email) == email.lower())
    if except_id is not None:
        query = query.where(users.c.id != except_id)
    return bool(await conn.scalar(select(query)))


async def create_user(conn: AsyncConnection, *, name: str, email: str, sales_seat: bool) -> int:
    result = await conn.execute(
        insert(users).values(name=name, email=email, sales_seat=sales_seat).returning(users.c.id)
    )
    user_id: int = result.scalar_one()
    return user_id


async def update_user(conn: AsyncConnection, user_id: int, values: dict[str, Any]) -> UserRecord:
    row = (
        await conn.execute(update(users).where(users.c.id == user_id).values(**values).returning(*_COLUMNS))
    ).one()
    return _record(row)


async def lock_user(conn: AsyncConnection, user_id: int) -> UserRecord | None:
    row = (await conn.execute(select(*_COLUMNS).where(users.c.id == user_id).with_for_update())).first()
    return _record(row) if row else None


MANAGERS = ChildList(
    select(*_COLUMNS)
    .join(team_memberships, users.c.id == team_memberships.c.user_id)
    .where(team_memberships.c.role == MANAGER),
    team_memberships.c.team_id,
    USER_ORDER.columns,
)


async def managers_by_team(conn: AsyncConnection, team_ids: Sequence[int]) -> dict[int, list[UserRecord]]:
    """Each team's managers, by name."""
    return await MANAGERS.fetch(conn, team_ids, _record)


async def list_users(
    conn: AsyncConnection,
    *,
    search: str | None,
    team_id: int | None,
    without_team: bool,
    page: PageRequest,
) -> Page[UserRecord]:
    query = users_query(search=search, team_id=team_id, without_team=without_team)
    return await fetch_page(conn, query, USER_ORDER, page, _record)


def users_query(
    *, search: str | ColumnElement[str] | None, team_id: int | ColumnElement[int] | None, without_team: bool
) -> Select[Any]:
    """The users matching a search (name or email), a team's direct members, or those without a team.
    `search` and `team_id` may be SQL parameters (then `search` stands for the LIKE pattern)."""
    query = select(*_COLUMNS)
    if search is not None and (isinstance(search, ColumnElement) or search):
        pattern = search if isinstance(search, ColumnElement) else like_pattern(search)
        query = query.where(or_(users.c.name.ilike(pattern), users.c.email.ilike(pattern)))
    if team_id is not None:
        query = query.where(users.c.id.in_(members_of(team_id, with_descendants=False)))
    if without_team:
        query = query.where(~exists().where(team_memberships.c.user_id == users.c.id))
    return query


def members_query(team: ColumnElement[Any], *, with_descendants: bool) -> Select[Any]:
    """A team's members (primary or extra), with its descendants' when asked (order by USER_ORDER)."""
    return select(*_COLUMNS).where(users.c.id.in_(members_of(team, with_descendants=with_descendants)))


async def members_by_team(
    conn: AsyncConnection,
    team_ids: Sequence[int],
    *,
    with_descendants: bool,
    page: PageRequest,
) -> dict[int, Page[UserRecord]]:
    def build(team: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
        return members_query(team, with_descendants=with_descendants), USER_ORDER

    return await fetch_pages(conn, team_ids, build, page, _record)


async def deal_columns(conn: AsyncConnection, user_id: int) -> list[str] | None:
    stored = await conn.scalar(
        select(user_preferences.c.deal_columns).where(user_preferences.c.user_id == user_id)
    )
    return list(stored) if stored is not None else None


async def set_deal_columns(conn: AsyncConnection, user_id: int, columns: list[str]) -> None:
    stmt = pg_insert(user_preferences).values(user_id=user_id, deal_columns=columns)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[user_preferences.c.user_id], set_={"deal_columns": columns}
        )
    )


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A request's first read: the signed-in user, the company settings and, when asked, the users
    their TEAM scopes reach (team_reach)."""

    user: UserRecord
    settings: CompanySettingsRecord
    reach: frozenset[int] | None


@functools.cache
def _signed_in_query(by_email: bool, with_reach: bool) -> Select[Any]:
    """The first read of a request, built once per kind (parameters `user_id` or `email`)."""
    reached = team_reach(users.c.id).distinct().subquery("reached")
    reach = select(func.array_agg(reached.c.user_id)).scalar_subquery()
    who = (
        func.lower(users.c.email) == func.lower(bindparam("email", type_=Text))
        if by_email
        else users.c.id == bindparam("user_id", type_=BigInteger)
    )
    return (
        select(*_COLUMNS, company_settings.c.currency, company_settings.c.fiscal_year_start_month)
        .add_columns(*([reach.label("reach")] if with_reach else []))
        .select_from(users.join(company_settings, true()))  # the settings table has one row
        .where(who)
    )


async def viewer_and_settings(
    conn: AsyncConnection, user_id: int | None = None, email: str | None = None, *, with_reach: bool = False
) -> SignedIn | None:
    """The signed-in user (by id or email) with the company settings and their reach, in one statement."""
    query = _signed_in_query(email is not None, with_reach)
    row = (await conn.execute(query, {"email": email} if email is not None else {"user_id": user_id})).first()
    if row is None:
        return None
    settings = CompanySettingsRecord(row.currency, row.fiscal_year_start_month)
    return SignedIn(_record(row), settings, frozenset(row.reach or ()) if with_reach else None)
