"""Teams: reads and the directory mutations on teams and memberships."""

from collections.abc import Iterable

from db import teams as db
from db.pagination import Page, PageRequest
from db.teams import MembershipRecord, TeamRecord
from db.users import UserRecord, users_by_ids
from resolvers import validation as check
from resolvers.common import found, unique
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict, NotFound


async def teams_by_ids(context: Context, ids: Iterable[int]) -> list[TeamRecord | None]:
    return list(await context.loaders.teams_by_id.load_many(list(ids)))


async def team(context: Context, team_id: int | None) -> TeamRecord | None:
    return None if team_id is None else await context.loaders.teams_by_id.load(team_id)


async def teams_page(context: Context, *, roots_only: bool, page: PageRequest) -> Page[TeamRecord]:
    async with context.engine.connect() as conn:
        found = await db.list_teams(conn, roots_only=roots_only, page=page)
    for record in found.items:
        context.loaders.teams_by_id.prime(record.id, record)
    return found


async def children(context: Context, team_id: int) -> list[TeamRecord]:
    return await context.loaders.children_by_team.load(team_id)


async def managers(context: Context, team_id: int) -> list[UserRecord]:
    return await context.loaders.managers_by_team.load(team_id)


async def create_team(context: Context, *, name: str, parent_id: int | None) -> TeamRecord:
    name = check.name(name)
    async with context.engine.begin() as conn:
        if parent_id is not None:
            found(await db.lock_team(conn, parent_id), "Team", parent_id)
        return await db.create_team(conn, name=name, parent_id=parent_id)


async def update_team(
    context: Context, team_id: int, *, name: str | None, parent_id: int | None, detach: bool
) -> TeamRecord:
    if detach and parent_id is not None:
        raise BadUserInput("give either parentId or detach: true, not both")
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = check.name(name)
    async with context.engine.begin() as conn:
        current = found(await db.lock_team(conn, team_id), "Team", team_id)
        if detach:
            values["parent_id"] = None
        elif parent_id is not None:
            found(await db.lock_team(conn, parent_id), "Team", parent_id)
            if await db.is_in_subtree(conn, team_id, parent_id):
                raise BadUserInput("parentId: a team cannot move under itself or one of its descendants")
            values["parent_id"] = parent_id
        return await db.update_team(conn, team_id, values) if values else current


async def set_membership(context: Context, membership: MembershipRecord) -> MembershipRecord:
    async with unique("the user already has a primary team"), context.engine.begin() as conn:
        found(await db.lock_team(conn, membership.team_id), "Team", membership.team_id)
        found(
            (await users_by_ids(conn, [membership.user_id])).get(membership.user_id),
            "User",
            membership.user_id,
        )
        if membership.is_primary:
            primary = await db.primary_team_of(conn, membership.user_id)
            if primary is not None and primary != membership.team_id:
                raise Conflict(
                    "the user already has a primary team: make that membership non-primary "
                    "(primary: false) first"
                )
        return await db.set_membership(conn, membership)


async def remove_membership(context: Context, team_id: int, user_id: int) -> bool:
    async with context.engine.begin() as conn:
        if not await db.remove_membership(conn, team_id, user_id):
            raise NotFound("that user is not a member of that team")
    return True
