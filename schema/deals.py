"""Deals and their history: types, the deals query, createDeal and updateDeal."""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay

from db.deals import HISTORY_ORDER, ORDERINGS, SHOWN_AS_ID, DealChangeRecord, DealRecord
from db.deals import DealFilter as DealWhere
from db.periods import Period
from resolvers import deals as resolve
from resolvers import pipelines as resolve_pipelines
from resolvers import users as resolve_users
from resolvers.context import Context
from resolvers.errors import BadUserInput
from schema import ids
from schema.enums import AmountChange, ForecastCategory, StageMovement, StageState
from schema.pagination import Connection, arguments, connection
from schema.pipelines import Pipeline, Stage
from schema.users import User

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Computed money at the API edge: rounded half-even to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


@strawberry.enum(
    description="Orders of a deal list; every order ends with the deal's ID, so pages are stable."
)
class DealOrder(Enum):
    CLOSE_DATE_ASC = "CLOSE_DATE_ASC"
    CLOSE_DATE_DESC = "CLOSE_DATE_DESC"
    AMOUNT_ASC = "AMOUNT_ASC"
    AMOUNT_DESC = "AMOUNT_DESC"
    NAME_ASC = "NAME_ASC"
    UPDATED_DESC = "UPDATED_DESC"


@strawberry.input(description="Which deals to list; every given condition must hold.")
class DealFilter:
    pipeline_id: strawberry.ID | None = None
    close_date_from: date | None = None
    close_date_to: date | None = None
    period: Period | None = strawberry.field(
        default=None, description="Close dates within this period (quarters follow the fiscal year)."
    )
    stage_ids: list[strawberry.ID] | None = None
    forecast_categories: list[ForecastCategory] | None = None
    owner_ids: list[strawberry.ID] | None = None
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="Members' deals, sub-teams included."
    )
    state: StageState | None = None
    search: str | None = strawberry.field(default=None, description="A part of the deal's name.")

    async def where(self, context: Context) -> DealWhere:
        where = DealWhere(
            pipeline_id=ids.decode(self.pipeline_id, "Pipeline", "filter.pipelineId")
            if self.pipeline_id
            else None,
            close_from=self.close_date_from,
            close_to=self.close_date_to,
            stage_ids=ids.decode_many(self.stage_ids, "Stage", "filter.stageIds"),
            categories=tuple(c.value for c in self.forecast_categories)
            if self.forecast_categories is not None
            else None,
            owner_ids=ids.decode_many(self.owner_ids, "User", "filter.ownerIds"),
            team_id=ids.decode(self.team_id, "Team", "filter.teamId") if self.team_id else None,
            state=self.state.value if self.state else None,
            search=self.search.strip() if self.search and self.search.strip() else None,
        )
        return await resolve.deal_filter(context, self.period, where)


@strawberry.type(description="One recorded change of a deal.")
class DealChange:
    record: strawberry.Private[DealChangeRecord]

    @strawberry.field
    def at(self) -> datetime:
        return self.record.at

    @strawberry.field(description="Who made the change.")
    async def actor(self, info: strawberry.Info[Context]) -> User | None:
        if self.record.actor_id is None:
            return None
        user = await resolve_users.user(info.context, self.record.actor_id)
        return User.of(user) if user else None

    @strawberry.field(
        description="name, stage, amount, currency, closeDate, owner, forecastCategory, probability or "
        "nextStep."
    )
    def field(self) -> str:
        return self.record.field

    @strawberry.field(description="The value before; stages and owners as their IDs.")
    def old_value(self) -> str | None:
        return _shown(self.record.field, self.record.old_value)

    @strawberry.field(description="The value after; stages and owners as their IDs.")
    def new_value(self) -> str | None:
        return _shown(self.record.field, self.record.new_value)

    @strawberry.field(description="For a change of stage: the stage before (null for other fields).")
    async def old_stage(self, info: strawberry.Info[Context]) -> Stage | None:
        return await _stage(info, self.record.old_stage_id)

    @strawberry.field(description="For a change of stage: the stage after (null for other fields).")
    async def new_stage(self, info: strawberry.Info[Context]) -> Stage | None:
        return await _stage(info, self.record.new_stage_id)

    @strawberry.field(
        description="For a change of owner: the owner before (null for other fields, and when unassigned)."
    )
    async def old_owner(self, info: strawberry.Info[Context]) -> User | None:
        return await _owner(info, self.record.old_owner_id)

    @strawberry.field(
        description="For a change of owner: the owner after (null for other fields, and when unassigned)."
    )
    async def new_owner(self, info: strawberry.Info[Context]) -> User | None:
        return await _owner(info, self.record.new_owner_id)


async def _stage(info: strawberry.Info[Context], stage_id: int | None) -> Stage | None:
    if stage_id is None:
        return None
    [stage] = await resolve_pipelines.stages_by_ids(info.context, [stage_id])
    return Stage.of(stage) if stage else None


async def _owner(info: strawberry.Info[Context], user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = await resolve_users.user(info.context, user_id)
    return User.of(user) if user else None


def _shown(field: str, value: str | None) -> str | None:
    type_name = SHOWN_AS_ID.get(field)
    return ids.encode(type_name, int(value)) if type_name and value is not None else value


@strawberry.type(description="A deal: an amount expected to close on a date, in a pipeline stage.")
class Deal(relay.Node):
    id: relay.NodeID[int]
    name: str
    amount: Decimal = strawberry.field(description="In the deal's currency, as entered.")
    currency: str
    probability: float = strawberry.field(description="The deal's own probability if set, else its stage's.")
    forecast_category: ForecastCategory
    forecast_category_is_manual: bool = strawberry.field(description="Set by hand; survives stage changes.")
    close_date: date
    created_at: datetime
    updated_at: datetime
    next_step: str | None
    version: int = strawberry.field(description="Increases with every change; pass it as expectedVersion.")
    record: strawberry.Private[DealRecord]

    @classmethod
    def of(cls, r: DealRecord) -> "Deal":
        return cls(
            id=r.id,
            name=r.name,
            amount=r.amount,
            currency=r.currency,
            probability=float(r.probability),
            forecast_category=ForecastCategory(r.forecast_category),
            forecast_category_is_manual=r.forecast_category_is_manual,
            close_date=r.close_date,
            created_at=r.created_at,
            updated_at=r.updated_at,
            next_step=r.next_step,
            version=r.version,
            record=r,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.deals_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field(description="The amount in the company currency (rate frozen once the deal closed).")
    def amount_in_company_currency(self) -> Decimal:
        return money(self.record.amount_c)

    @strawberry.field(description="amountInCompanyCurrency × probability.")
    def weighted_amount(self) -> Decimal:
        return money(self.record.weighted_amount)

    @strawberry.field
    def owner(self) -> User | None:
        return User.of(self.record.owner) if self.record.owner else None

    @strawberry.field
    async def pipeline(self, info: strawberry.Info[Context]) -> Pipeline:
        record = await resolve_pipelines.pipeline(info.context, self.record.pipeline_id)
        assert record is not None  # a foreign key
        return Pipeline.of(record)

    @strawberry.field
    def stage(self) -> Stage:
        return Stage.of(self.record.stage)

    @strawberry.field(
        description="FORWARD/BACKWARD when the deal existed before `from` and its stage moved between `from` "
        "and `to`."
    )
    async def stage_movement(
        self,
        info: strawberry.Info[Context],
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> StageMovement:
        movement, _ = await resolve.signals(info.context, self.record, from_, to)
        return StageMovement(movement)

    @strawberry.field(
        description="INCREASED/DECREASED when the deal existed before `from` and its weighted amount changed."
    )
    async def weighted_change(
        self,
        info: strawberry.Info[Context],
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> AmountChange:
        _, change = await resolve.signals(info.context, self.record, from_, to)
        return AmountChange(change)

    @strawberry.field(description="Every recorded change, newest first.")
    async def history(
        self, info: strawberry.Info[Context], first: int | None = None, after: str | None = None
    ) -> "DealChangeConnection":
        page = await resolve.history(info.context, self.id, arguments(info, first, after, HISTORY_ORDER.name))
        return connection(
            DealChangeConnection, info.context, page, HISTORY_ORDER.name, lambda r: DealChange(record=r)
        )


@strawberry.type(description="A page of a deal's history.")
class DealChangeConnection(Connection[DealChange]):
    pass


@strawberry.type(description="A page of deals.")
class DealConnection(Connection[Deal]):
    pass


async def deal_list(
    context: Context, filter: DealFilter | None, order_by: DealOrder | None
) -> tuple[DealWhere, str]:
    """A deal list's conditions and order from its `filter` and `orderBy` arguments."""
    order = (order_by or DealOrder.CLOSE_DATE_ASC).value
    return await (filter or DealFilter()).where(context), order


async def deals_of(
    info: strawberry.Info[Context],
    parent_kind: str,
    parent_id: int,
    first: int | None,
    after: str | None,
    filter: DealFilter | None,
    order_by: DealOrder | None,
) -> DealConnection:
    where, order = await deal_list(info.context, filter, order_by)
    cursors = ORDERINGS[order].name
    page = await resolve.deals_of(
        info.context, parent_kind, parent_id, where, order=order, page=arguments(info, first, after, cursors)
    )
    return connection(DealConnection, info.context, page, cursors, Deal.of)


@strawberry.type
class DealQuery:
    @strawberry.field(description="Deals the viewer may see, filtered and ordered (default CLOSE_DATE_ASC).")
    async def deals(
        self,
        info: strawberry.Info[Context],
        first: int | None = None,
        after: str | None = None,
        filter: DealFilter | None = None,
        order_by: DealOrder | None = None,
    ) -> DealConnection:
        where, order = await deal_list(info.context, filter, order_by)
        cursors = ORDERINGS[order].name
        page = await resolve.deals_page(
            info.context, where, order=order, page=arguments(info, first, after, cursors)
        )
        return connection(DealConnection, info.context, page, cursors, Deal.of)


@strawberry.input(description="A new deal; without a currency it is in the company currency.")
class CreateDealInput:
    name: str
    pipeline_id: strawberry.ID
    stage_id: strawberry.ID
    amount: Decimal
    currency: str | None = None
    close_date: date
    owner_id: strawberry.ID | None = None
    forecast_category: ForecastCategory | None = strawberry.field(
        default=None, description="A manual category; without it the deal follows its stage's mapping."
    )
    probability: float | None = None
    next_step: str | None = None


@strawberry.input(
    description="Changes to a deal; omitted fields stay, null clears owner, probability or nextStep."
)
class UpdateDealInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    stage_id: strawberry.ID | None = strawberry.UNSET
    amount: Decimal | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    close_date: date | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    forecast_category: ForecastCategory | None = strawberry.UNSET
    reset_forecast_category: bool | None = strawberry.field(
        default=None, description="Drop a manual forecast category and follow the stage mapping again."
    )
    probability: float | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    expected_version: int | None = strawberry.field(
        default=None, description="The version you read; if the deal changed since, the update is a CONFLICT."
    )


def _given(value: Any) -> Any:
    return None if value is strawberry.UNSET else value


@strawberry.type
class DealMutation:
    @strawberry.mutation(description="Create a deal.")
    async def create_deal(self, info: strawberry.Info[Context], input: CreateDealInput) -> Deal:
        data = resolve.NewDeal(
            name=input.name,
            pipeline_id=ids.decode(input.pipeline_id, "Pipeline", "pipelineId"),
            stage_id=ids.decode(input.stage_id, "Stage", "stageId"),
            amount=input.amount,
            currency=input.currency,
            close_date=input.close_date,
            owner_id=ids.decode(input.owner_id, "User", "ownerId") if input.owner_id is not None else None,
            forecast_category=input.forecast_category.value if input.forecast_category else None,
            probability=input.probability,
            next_step=input.next_step,
        )
        return await _reload(info, await resolve.create_deal(info.context, data))

    @strawberry.mutation(description="Change a deal; every changed field is recorded in its history.")
    async def update_deal(self, info: strawberry.Info[Context], input: UpdateDealInput) -> Deal:
        required = {
            "name": input.name,
            "stageId": input.stage_id,
            "amount": input.amount,
            "currency": input.currency,
            "closeDate": input.close_date,
        }
        if nulled := [k for k, v in required.items() if v is None]:
            raise BadUserInput(f"{nulled[0]} cannot be null; omit it to keep the current value")
        clear = frozenset(
            name
            for name, value in (
                ("owner", input.owner_id),
                ("probability", input.probability),
                ("nextStep", input.next_step),
            )
            if value is None
        )
        owner = _given(input.owner_id)
        stage = _given(input.stage_id)
        category = _given(input.forecast_category)
        data = resolve.DealInput(
            name=_given(input.name),
            stage_id=ids.decode(stage, "Stage", "stageId") if stage is not None else None,
            amount=_given(input.amount),
            currency=_given(input.currency),
            close_date=_given(input.close_date),
            owner_id=ids.decode(owner, "User", "ownerId") if owner is not None else None,
            forecast_category=category.value if category is not None else None,
            reset_forecast_category=bool(input.reset_forecast_category),
            probability=_given(input.probability),
            next_step=_given(input.next_step),
            clear=clear,
        )
        deal_id = ids.decode(input.id, "Deal")
        return await _reload(
            info, await resolve.update_deal(info.context, deal_id, data, input.expected_version)
        )


async def _reload(info: strawberry.Info[Context], deal_id: int) -> Deal:
    return Deal.of(await resolve.reload(info.context, deal_id))
