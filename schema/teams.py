"""Teams and the team tree: types, queries and mutations."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from strawberry import relay

from db.teams import TEAM_ORDER, TeamRecord
from db.users import USER_ORDER
from db.vocabulary import TEAM, SubjectKind
from resolvers import teams as resolve
from resolvers import users as resolve_users
from resolvers.context import Context
from schema import ids
from schema.pagination import Connection, arguments, connection
from schema.permissions import needing, needs
from schema.subject_fields import subject_forecast, subject_goals
from schema.users import User, UserConnection, user_connection

if TYPE_CHECKING:
    from schema.deals import DealConnection, DealFilter, DealOrder
    from schema.forecasts import ForecastRow, Goal


@strawberry.type(description="A team; teams nest into a tree.")
class Team(relay.Node):
    SUBJECT_KIND: ClassVar[SubjectKind] = TEAM  # the subject of its goals and forecast row
    id: relay.NodeID[int]
    name: str
    parent_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, record: TeamRecord) -> "Team":
        return cls(id=record.id, name=record.name, parent_id=record.parent_id)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.teams_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field(description="The team this one belongs to; null for a root team.")
    async def parent(self, info: strawberry.Info[Context]) -> "Team | None":
        record = await resolve.team(info.context, self.parent_id)
        return Team.of(record) if record else None

    @strawberry.field(description="The direct sub-teams, by name.")
    async def children(self, info: strawberry.Info[Context]) -> list["Team"]:
        return [Team.of(r) for r in await resolve.children(info.context, self.id)]

    @strawberry.field(
        description="Members (primary or extra), by name; with includeDescendants, sub-teams' too."
    )
    async def members(
        self,
        info: strawberry.Info[Context],
        first: int | None = None,
        after: str | None = None,
        include_descendants: bool | None = None,
    ) -> UserConnection:
        page = await resolve_users.members_page(
            info.context,
            self.id,
            with_descendants=bool(include_descendants),
            page=arguments(info, first, after, USER_ORDER.name),
        )
        return user_connection(info, page)

    @strawberry.field(description="The team's managers, by name.")
    async def managers(self, info: strawberry.Info[Context]) -> list[User]:
        return [User.of(u) for u in await resolve.managers(info.context, self.id)]

    goals: list[Annotated["Goal", strawberry.lazy("schema.forecasts")]] = strawberry.field(
        resolver=subject_goals,
        description="The team's goals of the pipeline's period kind; without its own, its members' sum.",
    )
    forecast: Annotated["ForecastRow", strawberry.lazy("schema.forecasts")] | None = strawberry.field(
        resolver=subject_forecast,
        description="The team's forecast row; null when outside the viewer's forecast:view.",
    )

    @strawberry.field(description="Deals owned by members of this team or of its descendants.")
    async def deals(
        self,
        info: strawberry.Info[Context],
        first: int | None = None,
        after: str | None = None,
        filter: Annotated["DealFilter", strawberry.lazy("schema.deals")] | None = None,
        order_by: Annotated["DealOrder", strawberry.lazy("schema.deals")] | None = None,
    ) -> Annotated["DealConnection", strawberry.lazy("schema.deals")]:
        from schema.deals import deals_of  # noqa: PLC0415  (deals and teams refer to each other)

        return await deals_of(info, "team", self.id, first, after, filter, order_by)


@strawberry.type(description="A page of teams.")
class TeamConnection(Connection[Team]):
    pass


@strawberry.type
class TeamQuery:
    @strawberry.field(description="Teams by name; rootsOnly keeps the teams without a parent.")
    async def teams(
        self,
        info: strawberry.Info[Context],
        first: int | None = None,
        after: str | None = None,
        roots_only: bool | None = None,
    ) -> TeamConnection:
        page = await resolve.teams_page(
            info.context, roots_only=bool(roots_only), page=arguments(info, first, after, TEAM_ORDER.name)
        )
        return connection(TeamConnection, info.context, page, TEAM_ORDER.name, Team.of)


@strawberry.input(description="A new team.")
class CreateTeamInput:
    name: str
    parent_id: strawberry.ID | None = None


@strawberry.input(description="Changes to a team; omitted fields stay as they are.")
class UpdateTeamInput:
    id: strawberry.ID
    name: str | None = None
    parent_id: strawberry.ID | None = None
    detach: bool | None = strawberry.field(default=None, description="Make the team a root team.")


@strawberry.type
class TeamMutation:
    @strawberry.mutation(
        description=needing("directory", "manage", "Create a team."),
        extensions=needs("directory", "manage", "createTeam"),
    )
    async def create_team(self, info: strawberry.Info[Context], input: CreateTeamInput) -> Team:
        parent = ids.decode(input.parent_id, "Team", "parentId") if input.parent_id is not None else None
        return Team.of(await resolve.create_team(info.context, name=input.name, parent_id=parent))

    @strawberry.mutation(
        description=needing(
            "directory", "manage", "Rename or move a team; a move that would make a cycle is refused."
        ),
        extensions=needs("directory", "manage", "updateTeam"),
    )
    async def update_team(self, info: strawberry.Info[Context], input: UpdateTeamInput) -> Team:
        record = await resolve.update_team(
            info.context,
            ids.decode(input.id, "Team"),
            name=input.name,
            parent_id=ids.decode(input.parent_id, "Team", "parentId")
            if input.parent_id is not None
            else None,
            detach=bool(input.detach),
        )
        return Team.of(record)
