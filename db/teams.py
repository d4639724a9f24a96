"""Teams, the team tree and memberships."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, and_, delete, exists, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.pagination import ChildList, Ordering, Page, PageRequest, fetch_page
from db.records import columns_of, record_of
from db.tables import team_memberships, teams


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    team_id: int
    user_id: int
    role: str
    is_primary: bool


# A TeamRecord's values by field name, and a membership's.
TEAM_COLUMNS = columns_of(TeamRecord, teams)
MEMBERSHIP_COLUMNS = columns_of(MembershipRecord, team_memberships)
_TEAM = tuple(TEAM_COLUMNS.values())
_MEMBERSHIP = tuple(MEMBERSHIP_COLUMNS.values())
TEAM_ORDER = Ordering("teams.NAME_ASC", (teams.c.name, teams.c.id))


def _closure() -> CTE:
    seed = select(teams.c.id.label("ancestor"), teams.c.id.label("team")).cte("team_closure", recursive=True)
    step = select(seed.c.ancestor, teams.c.id).join(teams, teams.c.parent_id == seed.c.team)
    return seed.union_all(step)


_TEAM_CLOSURE = _closure()


def team_closure() -> CTE:
    """(ancestor, team) for every team and each of its descendants, itself included.

    One CTE object, so that a statement using it in several places (a team's deals seen through a
    TEAM scope) computes it once.
    """
    return _TEAM_CLOSURE


def members_of(team: ColumnElement[Any] | int, *, with_descendants: bool) -> Select[Any]:
    """The user ids with a membership (primary or extra) in the team, or in it and its descendants."""
    team_expr = literal(team) if isinstance(team, int) else team
    # The team may be a column of an enclosing (LATERAL) query: correlate to it, whatever the depth.
    if not with_descendants:
        return (
            select(team_memberships.c.user_id)
            .where(team_memberships.c.team_id == team_expr)
            .correlate_except(team_memberships)
        )
    closure = team_closure()
    return (
        select(team_memberships.c.user_id)
        .join(closure, closure.c.team == team_memberships.c.team_id)
        .where(closure.c.ancestor == team_expr)
        .correlate_except(team_memberships, closure)
    )


async def teams_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, TeamRecord]:
    rows = await conn.execute(select(*_TEAM).where(teams.c.id.in_(list(ids))))
    return {row.id: record_of(TeamRecord, row) for row in rows}


CHILDREN = ChildList(select(*_TEAM), teams.c.parent_id, (teams.c.name, teams.c.id))
MEMBERSHIPS = ChildList(
    select(*_MEMBERSHIP).join(teams, teams.c.id == team_memberships.c.team_id),
    team_memberships.c.user_id,
    (team_memberships.c.is_primary.desc(), teams.c.name, teams.c.id),
)


def _team(row: Any) -> TeamRecord:
    return record_of(TeamRecord, row)


async def children_by_parent(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[TeamRecord]]:
    return await CHILDREN.fetch(conn, ids, _team)


async def memberships_by_user(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[MembershipRecord]]:
    return await MEMBERSHIPS.fetch(conn, ids, lambda row: record_of(MembershipRecord, row))


def teams_query(*, roots_only: bool) -> Select[Any]:
    """Every team, or only the root teams (order them by TEAM_ORDER)."""
    query = select(*_TEAM)
    return query.where(teams.c.parent_id.is_(None)) if roots_only else query


async def list_teams(conn: AsyncConnection, *, roots_only: bool, page: PageRequest) -> Page[TeamRecord]:
    return await fetch_page(conn, teams_query(roots_only=roots_only), TEAM_ORDER, page, _team)


async def create_team(conn: AsyncConnection, *, name: str, parent_id: int | None) -> TeamRecord:
    row = (await conn.execute(insert(teams).values(name=name, parent_id=parent_id).returning(*_TEAM))).one()
    return record_of(TeamRecord, row)


async def is_in_subtree(conn: AsyncConnection, team_id: int, candidate: int) -> bool:
    """Whether `candidate` is `team_id` or one of its descendants."""
    closure = team_closure()
    query = select(exists().where(closure.c.ancestor == team_id, closure.c.team == candidate))
    return bool(await conn.scalar(query))


async def update_team(conn: AsyncConnection, team_id: int, values: dict[str, Any]) -> TeamRecord:
    row = (
        await conn.execute(update(teams).where(teams.c.id == team_id).values(**values).returning(*_TEAM))
    ).one()
    return record_of(TeamRecord, row)


async def lock_team(conn: AsyncConnection, team_id: int) -> TeamRecord | None:
    row = (await conn.execute(select(*_TEAM).where(teams.c.id == team_id).with_for_update())).first()
    return record_of(TeamRecord, row) if row else None


async def primary_team_of(conn: AsyncConnection, user_id: int) -> int | None:
    query = select(team_memberships.c.team_id).where(
        team_memberships.c.user_id == user_id, team_memberships.c.is_primary
    )
    return await conn.scalar(query)


async def set_membership(conn: AsyncConnection, membership: MembershipRecord) -> MembershipRecord:
    stmt = pg_insert(team_memberships).values(
        team_id=membership.team_id,
        user_id=membership.user_id,
        role=membership.role,
        is_primary=membership.is_primary,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[team_memberships.c.team_id, team_memberships.c.user_id],
        set_={"role": stmt.excluded.role, "is_primary": stmt.excluded.is_primary},
    )
    row = (await conn.execute(stmt.returning(*_MEMBERSHIP))).one()
    return record_of(MembershipRecord, row)


async def remove_membership(conn: AsyncConnection, team_id: int, user_id: int) -> bool:
    result = await conn.execute(
        delete(team_memberships).where(
            and_(team_memberships.c.team_id == team_id, team_memberships.c.user_id == user_id)
        )
    )
    return bool(result.rowcount)


def team_reach(user_id: int | ColumnElement[Any]) -> Select[Any]:
    """The users whose primary or extra team is one of `user_id`'s teams or a descendant of one."""
    closure = team_closure()
    mine = (
        select(team_memberships.c.team_id)
        .where(team_memberships.c.user_id == user_id)
        .correlate_except(team_memberships)  # the user may be a column of an enclosing query
    )
    theirs = team_memberships.alias("reached")
    return (
        select(theirs.c.user_id)
        .join(closure, closure.c.team == theirs.c.team_id)
        .where(closure.c.ancestor.in_(mine))
        .correlate_except(theirs, closure, team_memberships)
    )


@dataclass(frozen=True, slots=True)
class ViewerTeams:
    """The viewer's teams: where they are a member, everything below those, what they manage (the teams
    where they are MANAGER and everything below), and what they head (where they are MANAGER)."""

    member: frozenset[int]
    reach: frozenset[int]
    managed: frozenset[int]
    headed: frozenset[int] = frozenset()


async def viewer_teams(conn: AsyncConnection, user_id: int) -> ViewerTeams:
    closure = team_closure()
    query = (
        select(team_memberships.c.team_id, team_memberships.c.role, closure.c.team)
        .join(closure, closure.c.ancestor == team_memberships.c.team_id)
        .where(team_memberships.c.user_id == user_id)
    )
    member: set[int] = set()
    reach: set[int] = set()
    managed: set[int] = set()
    headed: set[int] = set()
    for team_id, role, below in await conn.execute(query):
        member.add(team_id)
        reach.add(below)
        if role == "MANAGER":
            managed.add(below)
            headed.add(team_id)
    return ViewerTeams(frozenset(member), frozenset(reach), frozenset(managed), frozenset(headed))


async def team_ids_of_users(conn: AsyncConnection, user_ids: Sequence[int]) -> dict[int, set[int]]:
    """Every team each user belongs to (primary or extra)."""
    found: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    rows = await conn.execute(
        select(team_memberships.c.user_id, team_memberships.c.team_id).where(
            team_memberships.c.user_id.in_(list(user_ids))
        )
    )
    for user_id, team_id in rows:
        found[user_id].add(team_id)
    return found


async def root_team_ids(conn: AsyncConnection) -> list[int]:
    rows = await conn.execute(
        select(teams.c.id).where(teams.c.parent_id.is_(None)).order_by(teams.c.name, teams.c.id)
    )
    return list(rows.scalars())


async def descendants(conn: AsyncConnection, team_ids: Sequence[int]) -> dict[int, set[int]]:
    """Each team's descendants (itself excluded)."""
    closure = team_closure()
    found: dict[int, set[int]] = {team_id: set() for team_id in team_ids}
    rows = await conn.execute(
        select(closure.c.ancestor, closure.c.team).where(
            closure.c.ancestor.in_(list(team_ids)), closure.c.ancestor != closure.c.team
        )
    )
    for ancestor, team in rows:
        found[ancestor].add(team)
    return found
