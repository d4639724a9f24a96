"""Users and team memberships: types, queries and mutations."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from strawberry import relay

from db.forecasts import Subject
from db.pagination import Page
from db.periods import Period
from db.teams import MembershipRecord
from db.users import USER_ORDER, UserRecord
from db.vocabulary import USER, SubjectKind
from resolvers import admin as resolve_admin
from resolvers import teams as resolve_teams
from resolvers import users as resolve
from resolvers.context import Context
from resolvers.errors import Forbidden
from schema import ids
from schema.enums import MembershipRole
from schema.pagination import Connection, arguments, connection
from schema.permissions import needing, needs
from schema.subject_fields import subject_forecast, subject_goals

if TYPE_CHECKING:
    from schema.admin import Permission
    from schema.deals import DealConnection, DealFilter, DealOrder
    from schema.forecasts import ForecastRow, ForecastSubmissionConnection, Goal
    from schema.teams import Team

TeamRef = Annotated["Team", strawberry.lazy("schema.teams")]


@strawberry.type(description="A person who can sign in; sales-seat holders appear in forecast rows.")
class User(relay.Node):
    SUBJECT_KIND: ClassVar[SubjectKind] = USER  # the subject of its goals and forecast row
    id: relay.NodeID[int]
    name: str
    email: str
    active: bool = strawberry.field(description="Inactive users cannot sign in.")
    sales_seat: bool = strawberry.field(
        description="Only users holding a sales seat appear in forecast rows."
    )

    @classmethod
    def of(cls, record: UserRecord) -> "User":
        return cls(
            id=record.id,
            name=record.name,
            email=record.email,
            active=record.active,
            sales_seat=record.sales_seat,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.users_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field(description="The team this user belongs to first; team rollups count users here.")
    async def primary_team(self, info: strawberry.Info[Context]) -> TeamRef | None:
        from schema.teams import Team  # noqa: PLC0415  (teams and users refer to each other)

        team = await resolve_teams.team(info.context, await resolve.primary_team_id(info.context, self.id))
        return Team.of(team) if team else None

    @strawberry.field(description="Every team this user belongs to, the primary one first.")
    async def memberships(self, info: strawberry.Info[Context]) -> list["TeamMembership"]:
        return [TeamMembership(record=m) for m in await resolve.memberships(info.context, self.id)]

    @strawberry.field(
        description="The user's roles: visible to the user and to holders of permissions:manage."
    )
    async def roles(self, info: strawberry.Info[Context]) -> list[str]:
        return sorted(await resolve.roles_of(info.context, self.id))

    @strawberry.field(
        description="The permissions in force for this user (the viewer's own, or anyone's for "
        "permissions:manage)."
    )
    async def permissions(
        self, info: strawberry.Info[Context]
    ) -> list[Annotated["Permission", strawberry.lazy("schema.admin")]]:
        from schema.admin import Permission  # noqa: PLC0415  (admin types refer to users)

        return [Permission.of(rule) for rule in await resolve_admin.user_rules(info.context, self.id)]

    @strawberry.field(description="The deals this user owns.")
    async def deals(
        self,
        info: strawberry.Info[Context],
        first: int | None = None,
        after: str | None = None,
        filter: Annotated["DealFilter", strawberry.lazy("schema.deals")] | None = None,
        order_by: Annotated["DealOrder", strawberry.lazy("schema.deals")] | None = None,
    ) -> Annotated["DealConnection", strawberry.lazy("schema.deals")]:
        from schema.deals import deals_of  # noqa: PLC0415  (deals and users refer to each other)

        return await deals_of(info, "owner", self.id, first, after, filter, order_by)

    goals: list[Annotated["Goal", strawberry.lazy("schema.forecasts")]] = strawberry.field(
        resolver=subject_goals,
        description="This user's goals in a pipeline, of its period kind, between two periods.",
    )
    forecast: Annotated["ForecastRow", strawberry.lazy("schema.forecasts")] | None = strawberry.field(
        resolver=subject_forecast,
        description="This user's forecast row; null when outside the viewer's forecast:view.",
    )

    @strawberry.field(description="This user's submissions, newest first.")
    async def submissions(
        self,
        info: strawberry.Info[Context],
        pipeline_id: strawberry.ID,
        period: Period | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Annotated["ForecastSubmissionConnection", strawberry.lazy("schema.forecasts")]:
        from schema.forecasts import subject_submissions  # noqa: PLC0415

        return await subject_submissions(
            info, Subject.user(self.id), pipeline_id, period, first, after, hidden_is_missing=False
        )

    @strawberry.field(description="The deal columns this user chose to show (the viewer's own).")
    async def deal_columns(self, info: strawberry.Info[Context]) -> list[str]:
        if self.id != info.context.viewer.id:
            raise Forbidden("deal columns are each user's own preference: only the viewer's are readable")
        return await resolve.deal_columns(info.context)


@strawberry.type(description="A user's membership of a team.")
class TeamMembership:
    record: strawberry.Private[MembershipRecord]

    @strawberry.field
    async def team(self, info: strawberry.Info[Context]) -> TeamRef:
        from schema.teams import Team  # noqa: PLC0415

        team = await resolve_teams.team(info.context, self.record.team_id)
        assert team is not None  # memberships are deleted with their team
        return Team.of(team)

    @strawberry.field
    async def user(self, info: strawberry.Info[Context]) -> User:
        record = await resolve.user(info.context, self.record.user_id)
        assert record is not None  # memberships are deleted with their user
        return User.of(record)

    @strawberry.field(description="MANAGER manages the team and its descendants.")
    def role(self) -> MembershipRole:
        return MembershipRole(self.record.role)

    @strawberry.field(description="Whether this is the user's primary team.")
    def primary(self) -> bool:
        return self.record.is_primary


@strawberry.type(description="A page of users.")
class UserConnection(Connection[User]):
    pass


def user_connection(info: strawberry.Info[Context], page: Page[UserRecord]) -> UserConnection:
    return connection(UserConnection, info.context, page, USER_ORDER.name, User.of)


@strawberry.type
class UserQuery:
    @strawberry.field(description="The authenticated user.")
    def viewer(self, info: strawberry.Info[Context]) -> User:
        return User.of(info.context.viewer)

    @strawberry.field(description="Users by name; `search` matches name or email, `teamId` direct members.")
    async def users(
        self,
        info: strawberry.Info[Context],
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        team_id: strawberry.ID | None = None,
        without_team: bool | None = None,
    ) -> UserConnection:
        page = await resolve.users_page(
            info.context,
            search=search,
            team_id=ids.decode(team_id, "Team", "teamId") if team_id is not None else None,
            without_team=bool(without_team),
            page=arguments(info, first, after, USER_ORDER.name),
        )
        return user_connection(info, page)


@strawberry.input(description="A new user.")
class CreateUserInput:
    name: str
    email: str
    sales_seat: bool | None = None
    roles: list[str] | None = None


@strawberry.input(description="Changes to a user; omitted fields stay as they are.")
class UpdateUserInput:
    id: strawberry.ID
    name: str | None = None
    email: str | None = None
    active: bool | None = None
    sales_seat: bool | None = None


@strawberry.input(description="Add a user to a team or change the membership.")
class TeamMembershipInput:
    team_id: strawberry.ID
    user_id: strawberry.ID
    role: MembershipRole
    primary: bool


@strawberry.type
class UserMutation:
    @strawberry.mutation(
        description=needing("directory", "manage", "Create a user."),
        extensions=needs("directory", "manage", "createUser"),
    )
    async def create_user(self, info: strawberry.Info[Context], input: CreateUserInput) -> User:
        record = await resolve.create_user(
            info.context,
            name=input.name,
            email=input.email,
            sales_seat=bool(input.sales_seat),
            roles=input.roles or [],
        )
        return User.of(record)

    @strawberry.mutation(
        description=needing("directory", "manage", "Change a user."),
        extensions=needs("directory", "manage", "updateUser"),
    )
    async def update_user(self, info: strawberry.Info[Context], input: UpdateUserInput) -> User:
        record = await resolve.update_user(
            info.context,
            ids.decode(input.id, "User"),
            name=input.name,
            email=input.email,
            active=input.active,
            sales_seat=input.sales_seat,
        )
        return User.of(record)

    @strawberry.mutation(
        description=needing(
            "directory", "manage", "Add a user to a team, or change their role or primary flag there."
        ),
        extensions=needs("directory", "manage", "setTeamMembership"),
    )
    async def set_team_membership(
        self,
        info: strawberry.Info[Context],
        input: TeamMembershipInput,
    ) -> TeamMembership:
        membership = MembershipRecord(
            team_id=ids.decode(input.team_id, "Team", "teamId"),
            user_id=ids.decode(input.user_id, "User", "userId"),
            role=input.role.value,
            is_primary=input.primary,
        )
        return TeamMembership(record=await resolve_teams.set_membership(info.context, membership))

    @strawberry.mutation(
        description=needing("directory", "manage", "Remove a user from a team."),
        extensions=needs("directory", "manage", "removeTeamMembership"),
    )
    async def remove_team_membership(
        self, info: strawberry.Info[Context], team_id: strawberry.ID, user_id: strawberry.ID
    ) -> bool:
        return await resolve_teams.remove_membership(
            info.context, ids.decode(team_id, "Team", "teamId"), ids.decode(user_id, "User", "userId")
        )

    @strawberry.mutation(description="Choose the deal columns to show; returns them.")
    async def set_deal_columns(self, info: strawberry.Info[Context], columns: list[str]) -> list[str]:
        return await resolve.set_deal_columns(info.context, columns)
