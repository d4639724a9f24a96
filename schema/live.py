"""Subscriptions (docs/live.md): deal events and fresh forecast tables over WebSocket (graphql-transport-ws).

Each event is computed for its subscriber when it is sent: deals through the viewer's deal:view predicate
in force then (pipecast.live groups subscribers so that this is one statement per viewer and filter), a
forecast table by the same resolver as Query.forecast. Each event's fields resolve with fresh loaders.
"""

from collections.abc import AsyncGenerator, Iterator
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.relay import to_base64
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from db.periods import Period
from resolvers.context import Context
from resolvers.errors import BadUserInput, LimitExceeded
from resolvers.live import Connection, DealSubscription, ForecastSubscription, SlowConsumer
from schema import ids
from schema.deals import Deal, DealFilter, deal_list
from schema.forecasts import Forecast, asks_prediction, forecast_table


class OverTheRightTransport(SchemaExtension):
    """Subscriptions over WebSocket only, queries and mutations over HTTP only (where their limits, logs
    and fresh per-request state are): anything else is refused before it runs."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        live = isinstance(getattr(context.context, "live", None), Connection)
        subscription = context.operation_type is OperationType.SUBSCRIPTION
        if live != subscription and not context.pre_execution_errors:
            message = (
                "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql"
                if subscription
                else "queries and mutations are served over HTTP at /graphql; WebSocket carries subscriptions"
            )
            context.result = ExecutionResult(data=None, errors=[BadUserInput(message)])
        yield


@strawberry.enum(description="What happened to a deal, as its subscriber sees it.")
class DealEventKind(Enum):
    CREATED = strawberry.enum_value("CREATED", description="The deal was created.")
    UPDATED = strawberry.enum_value(
        "UPDATED", description="The deal changed, or came into the subscriber's sight or filter."
    )
    HIDDEN = strawberry.enum_value(
        "HIDDEN", description="The deal left the subscriber's sight or filter; only dealId is given."
    )


@strawberry.type(description="A deal created or changed, or gone from the subscriber's sight.")
class DealEvent:
    kind: DealEventKind = strawberry.field(description="What happened.")
    deal_id: strawberry.ID = strawberry.field(description="The deal's ID (also for HIDDEN).")
    deal: Deal | None = strawberry.field(description="Null for HIDDEN.")
    at: datetime = strawberry.field(description="When the server learned of the change.")


SLOW = (
    "more deals changed than this subscription could hold before they were read, and their events were "
    "dropped: subscribe again, and query what may have changed meanwhile"
)


def _connection(info: strawberry.Info[Context]) -> Connection:
    live = info.context.live
    assert isinstance(live, Connection), "OverTheRightTransport lets subscriptions run on WebSockets only"
    return live


@strawberry.type(
    description="Live updates, over WebSocket at /graphql (graphql-transport-ws; the token in "
    "connection_init's payload as Authorization)."
)
class Subscription:
    @strawberry.subscription(description="Deals the viewer may see, as they are created or changed.")
    async def deal_changed(
        self, info: strawberry.Info[Context], filter: DealFilter | None = None
    ) -> AsyncGenerator[DealEvent, None]:
        live = _connection(info)
        context = info.context
        where, _ = await deal_list(context, filter, None)
        subscription = DealSubscription(live.session, where, context, live.hub.waiting)
        with live.admitted(subscription):
            while True:
                live.fresh(context)  # idle: nothing cached kept
                try:
                    notice = await subscription.next()
                except SlowConsumer:
                    raise LimitExceeded(SLOW) from None
                live.fresh(context, notice.loaders)
                yield DealEvent(
                    kind=DealEventKind(notice.kind),
                    deal_id=strawberry.ID(to_base64("Deal", notice.deal_id)),
                    deal=Deal.of(notice.deal) if notice.deal is not None else None,
                    at=notice.at,
                )

    @strawberry.subscription(
        description="The viewer's forecast table, fresh after anything that may change it (at most one "
        "event a second). The first event is the table as it stands."
    )
    async def forecast_updated(
        self,
        info: strawberry.Info[Context],
        pipeline_id: strawberry.ID,
        period: Period,
        team_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="As for Query.forecast: without it, the viewer's own table."),
        ] = None,
    ) -> AsyncGenerator[Forecast, None]:
        live = _connection(info)
        context = info.context
        predict = asks_prediction(info._raw_info.field_nodes, info._raw_info.fragments)

        async def table() -> Forecast:
            async with live.hub.tables:  # a few at a time per process, however many subscriptions are stale
                return await forecast_table(
                    context, pipeline_id=pipeline_id, period=period, team_id=team_id, predict=predict
                )

        first = await table()  # refusals (unknown pipeline, hidden team, wrong period) before subscribing
        subscription = ForecastSubscription(live.session, ids.decode(pipeline_id, "Pipeline", "pipelineId"))
        with live.admitted(subscription):
            subscription.sent()
            yield first
            while True:
                live.fresh(context)  # kept empty while idle, and the next table's own
                await subscription.wait()
                if not await live.current():
                    return
                yield await table()
