"""The Schema, assembled from the per-domain query and mutation classes: built by whoever composes the
app (pipecast.app, `pipecast schema`, the tests), not on import."""

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers.context import Context
from schema import ids
from schema.admin import AdminMutation, AdminQuery, AuditEntry
from schema.compiled import Plans, compiled_reads
from schema.deals import Deal, DealMutation, DealQuery
from schema.descriptions import describe
from schema.errors import PipecastErrors
from schema.forecasts import ForecastAdjustment, ForecastMutation, ForecastQuery, ForecastSubmission, Goal
from schema.limits import limit_extensions
from schema.live import OverTheRightTransport, Subscription
from schema.pipelines import Pipeline, PipelineMutation, PipelineQuery, Stage
from schema.requests import OperationName
from schema.scalars import SCALAR_MAP
from schema.teams import Team, TeamMutation, TeamQuery
from schema.users import User, UserMutation, UserQuery

NODE_TYPES: dict[str, Any] = {
    t.__name__: t
    for t in (User, Team, Pipeline, Stage, Deal, AuditEntry, Goal, ForecastSubmission, ForecastAdjustment)
}


@strawberry.type
class Query(UserQuery, TeamQuery, PipelineQuery, DealQuery, ForecastQuery, AdminQuery):
    @strawberry.field(description="Any object by its global ID; null when it does not exist or is hidden.")
    async def node(self, info: strawberry.Info[Context], id: strawberry.ID) -> relay.Node | None:
        parts = ids.split(id)
        if parts is None:
            ids.decode(id, "Node")  # raises BAD_USER_INPUT
            return None
        node_type = NODE_TYPES.get(parts[0])
        if node_type is None or (node_type is not Goal and not parts[1].isdecimal()):
            return None
        [found] = await node_type.resolve_nodes(info=info, node_ids=[parts[1]])
        return found  # type: ignore[no-any-return]


@strawberry.type
class Mutation(UserMutation, TeamMutation, PipelineMutation, DealMutation, ForecastMutation, AdminMutation):
    pass


class PipecastSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client errors are answers, not incidents: PipecastErrors logs the internal ones."""


def build_schema(*, introspection: bool = True, compiled: bool = True) -> strawberry.Schema:
    """The schema; without introspection (production) clients cannot list the types. With `compiled`,
    the read queries it covers take the compiled read path (schema.compiled)."""
    extensions: list[Any] = [*limit_extensions(), OperationName, PipecastErrors, OverTheRightTransport]
    if compiled:
        extensions.append(compiled_reads(Plans()))
    if not introspection:
        extensions.insert(0, DisableIntrospection)
    built = PipecastSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(NODE_TYPES.values()),
        config=StrawberryConfig(disable_field_suggestions=True, scalar_map=SCALAR_MAP),
        extensions=extensions,
    )
    describe(built._schema)
    return built
