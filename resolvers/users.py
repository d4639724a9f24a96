"""Users: reads, the directory mutations on users, and deal-column preferences."""

from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from authz.roles import UnknownRole, assign_roles
from db import users as db
from db.pagination import Page, PageRequest
from db.teams import MembershipRecord
from db.users import UserRecord
from resolvers import validation as check
from resolvers.admin import keep_someone_in_charge
from resolvers.common import distinct, found, unique
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict, Forbidden

DEAL_COLUMNS = (
    "name",
    "owner",
    "pipeline",
    "stage",
    "amount",
    "currency",
    "amountInCompanyCurrency",
    "probability",
    "weightedAmount",
    "forecastCategory",
    "closeDate",
    "createdAt",
    "updatedAt",
    "nextStep",
)
DEFAULT_DEAL_COLUMNS = ("name", "owner", "stage", "amount", "closeDate", "forecastCategory")


async def users_by_ids(context: Context, ids: Iterable[int]) -> list[UserRecord | None]:
    return list(await context.loaders.users_by_id.load_many(list(ids)))


async def user(context: Context, user_id: int) -> UserRecord | None:
    return await context.loaders.users_by_id.load(user_id)


async def users_page(
    context: Context,
    *,
    search: str | None,
    team_id: int | None,
    without_team: bool,
    page: PageRequest,
) -> Page[UserRecord]:
    async with context.engine.connect() as conn:
        found = await db.list_users(
            conn,
            search=search.strip() if search else None,
            team_id=team_id,
            without_team=without_team,
            page=page,
        )
    context.loaders.prime_users(found.items)
    return found


async def members_page(
    context: Context, team_id: int, *, with_descendants: bool, page: PageRequest
) -> Page[UserRecord]:
    async def fetch(conn: AsyncConnection, team_ids: Sequence[int]) -> dict[int, Page[UserRecord]]:
        pages = await db.members_by_team(conn, team_ids, with_descendants=with_descendants, page=page)
        for each in pages.values():
            context.loaders.prime_users(each.items)
        return pages

    loader = context.loaders.pages(("members", with_descendants, page), fetch)
    found: Page[UserRecord] = await loader.load(team_id)
    return found


async def memberships(context: Context, user_id: int) -> list[MembershipRecord]:
    return await context.loaders.memberships_by_user.load(user_id)


async def primary_team_id(context: Context, user_id: int) -> int | None:
    return next((m.team_id for m in await memberships(context, user_id) if m.is_primary), None)


async def create_user(
    context: Context, *, name: str, email: str, sales_seat: bool, roles: Sequence[str]
) -> UserRecord:
    name, email = check.name(name), check.email(email)
    async with unique(f"a user with email {email} already exists"), context.engine.begin() as conn:
        if await db.email_taken(conn, email):
            raise Conflict(f"a user with email {email} already exists")
        user_id = await db.create_user(conn, name=name, email=email, sales_seat=sales_seat)
        try:
            await assign_roles(conn, user_id, distinct(roles))
        except UnknownRole as exc:
            raise BadUserInput(f"roles: {exc}") from None
        return (await db.users_by_ids(conn, [user_id]))[user_id]


async def update_user(
    context: Context,
    user_id: int,
    *,
    name: str | None,
    email: str | None,
    active: bool | None,
    sales_seat: bool | None,
) -> UserRecord:
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = check.name(name)
    if email is not None:
        values["email"] = check.email(email)
    if active is not None:
        values["active"] = active
    if sales_seat is not None:
        values["sales_seat"] = sales_seat
    async with unique(f"a user with email {email} already exists"), context.engine.begin() as conn:
        current = found(await db.lock_user(conn, user_id), "User", user_id)
        if "email" in values and await db.email_taken(conn, str(values["email"]), except_id=user_id):
            raise Conflict(f"a user with email {values['email']} already exists")
        if active is False and user_id == context.viewer.id:
            raise BadUserInput("you cannot deactivate yourself")
        if not values:
            return current
        updated = await db.update_user(conn, user_id, values)
        if active is False:
            await keep_someone_in_charge(conn)
        return updated


async def deal_columns(context: Context) -> list[str]:
    async with context.engine.connect() as conn:
        stored = await db.deal_columns(conn, context.viewer.id)
    return list(DEFAULT_DEAL_COLUMNS) if stored is None else stored


async def set_deal_columns(context: Context, columns: Sequence[str]) -> list[str]:
    unknown = [c for c in columns if c not in DEAL_COLUMNS]
    if unknown:
        raise BadUserInput(
            f"columns: {unknown[0]!r} is not a deal column; accepted: {', '.join(DEAL_COLUMNS)}"
        )
    if len(set(columns)) != len(columns):
        raise BadUserInput("columns: each column may appear once")
    async with context.engine.begin() as conn:
        await db.set_deal_columns(conn, context.viewer.id, list(columns))
    return list(columns)


async def roles_of(context: Context, user_id: int) -> set[str]:
    """A user's roles: the viewer's own, or anyone's for holders of permissions:manage."""
    if user_id == context.viewer.id:
        return set(context.access.roles)
    if not context.access.can("permissions", "manage"):
        raise Forbidden("reading another user's roles needs the permissions:manage permission")
    return await context.policies.roles_of(user_id)
