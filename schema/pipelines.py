"""Pipelines, stages, periods, company settings and exchange rates."""

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import relay

from db.periods import Period
from db.pipelines import CompanySettingsRecord, ExchangeRateRecord, PipelineRecord, StageRecord
from resolvers import pipelines as resolve
from resolvers.context import Context
from resolvers.loaders import forget
from schema import ids
from schema.enums import ForecastAmountBasis, ForecastCategory, PeriodKind, StageState
from schema.permissions import needing, needs


@strawberry.type(description="A forecast period with its bounds (inclusive).")
class PeriodInfo:
    key: Period = strawberry.field(description='"2026-11" or "2026-Q4".')
    kind: PeriodKind
    start: date = strawberry.field(description="The first day of the period.")
    end: date = strawberry.field(description="The last day of the period.")

    @classmethod
    def of(cls, period: Period, fiscal_start: int) -> "PeriodInfo":
        return cls(
            key=period,
            kind=PeriodKind(period.kind),
            start=period.start(fiscal_start),
            end=period.end(fiscal_start),
        )


@strawberry.type(description="A deal stage: its order, win probability, state and mapped forecast category.")
class Stage(relay.Node):
    id: relay.NodeID[int]
    label: str
    display_order: int
    probability: float = strawberry.field(description="The win probability, 0–1.")
    state: StageState
    forecast_category: ForecastCategory = strawberry.field(
        description="The category deals in it take by default."
    )

    @classmethod
    def of(cls, record: StageRecord) -> "Stage":
        return cls(
            id=record.id,
            label=record.label,
            display_order=record.display_order,
            probability=float(record.probability),
            state=StageState(record.state),
            forecast_category=ForecastCategory(record.forecast_category),
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.stages_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]


@strawberry.type(
    description="A stage's outcomes over a lookback: how often the closed deals that were ever in it were "
    "won, and how often they slipped."
)
class StageOutcomeRates:
    stage: Stage = strawberry.field(description="The stage.")
    win_rate: float = strawberry.field(
        description="(won + 10 × the stage's probability) ÷ (observed + 10): the probability is a prior "
        "worth ten deals."
    )
    slip_rate: float = strawberry.field(
        description="The share of the observed deals whose final close date fell in a later period than "
        "the one they had when they first entered the stage."
    )
    observed: int = strawberry.field(description="Closed deals of the lookback that were ever in this stage.")

    @classmethod
    def of(cls, stage: StageRecord, rate: Any) -> "StageOutcomeRates":
        return cls(
            stage=Stage.of(stage), win_rate=rate.win_rate, slip_rate=rate.slip_rate, observed=rate.observed
        )


@strawberry.type(description="A sales pipeline: ordered stages and its forecast settings.")
class Pipeline(relay.Node):
    id: relay.NodeID[int]
    name: str
    period_kind: PeriodKind
    forecast_amount: ForecastAmountBasis
    record: strawberry.Private[PipelineRecord]

    @classmethod
    def of(cls, record: PipelineRecord) -> "Pipeline":
        return cls(
            id=record.id,
            name=record.name,
            period_kind=PeriodKind(record.period_kind),
            forecast_amount=ForecastAmountBasis(record.forecast_amount),
            record=record,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.pipelines_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field(description="The stages in display order.")
    async def stages(self, info: strawberry.Info[Context]) -> list[Stage]:
        return [Stage.of(s) for s in await resolve.stages_of(info.context, self.id)]

    @strawberry.field(
        description="The learned rates behind predictions, for the period's lookback: the deals closed "
        "during the four ended periods before it (before the current one, for a later period). Default: the "
        "current period."
    )
    async def outcome_rates(
        self, info: strawberry.Info[Context], period: Period | None = None
    ) -> list[StageOutcomeRates]:
        from resolvers.forecasts import outcome_rates  # noqa: PLC0415  (forecasts build on pipelines)

        found, _ = await outcome_rates(info.context, self.id, period)
        return [StageOutcomeRates.of(stage, rate) for stage, rate in found]

    @strawberry.field(description="Today's period of this pipeline's kind.")
    async def current_period(self, info: strawberry.Info[Context]) -> PeriodInfo:
        period = await resolve.current_period(info.context, self.record)
        settings = await resolve.company_settings(info.context)
        return PeriodInfo.of(period, settings.fiscal_year_start_month)


@strawberry.type(description="Company-wide settings.")
class CompanySettings:
    currency: str = strawberry.field(
        description="The company currency (ISO 4217); every forecast number is in it."
    )
    fiscal_year_start_month: int = strawberry.field(
        description="The month (1–12) fiscal quarters start from."
    )

    @classmethod
    def of(cls, record: CompanySettingsRecord) -> "CompanySettings":
        return cls(currency=record.currency, fiscal_year_start_month=record.fiscal_year_start_month)


@strawberry.type(description="A dated rate: amount in `currency` × rate = amount in the company currency.")
class ExchangeRate:
    currency: str
    rate: Decimal
    valid_from: date

    @classmethod
    def of(cls, record: ExchangeRateRecord) -> "ExchangeRate":
        return cls(currency=record.currency, rate=record.rate, valid_from=record.valid_from)


@strawberry.type
class PipelineQuery:
    @strawberry.field(description="Every pipeline, oldest first.")
    async def pipelines(self, info: strawberry.Info[Context]) -> list[Pipeline]:
        return [Pipeline.of(p) for p in await resolve.pipelines(info.context)]

    @strawberry.field(description="The company settings.")
    async def settings(self, info: strawberry.Info[Context]) -> CompanySettings:
        return CompanySettings.of(await resolve.company_settings(info.context))

    @strawberry.field(description="Every exchange rate, newest first per currency.")
    async def exchange_rates(self, info: strawberry.Info[Context]) -> list[ExchangeRate]:
        return [ExchangeRate.of(r) for r in await resolve.exchange_rates(info.context)]


@strawberry.input(description="A stage of a new pipeline; stages take the order they are given in.")
class StageInput:
    label: str
    probability: float
    state: StageState
    forecast_category: ForecastCategory | None = strawberry.field(
        default=None, description="Default: PIPELINE for OPEN, CLOSED_WON for WON, NOT_FORECASTED for LOST."
    )


@strawberry.input(description="A new pipeline with its stages.")
class CreatePipelineInput:
    name: str
    stages: list[StageInput]
    period_kind: PeriodKind | None = strawberry.field(default=None, description="Default QUARTER.")
    forecast_amount: ForecastAmountBasis | None = strawberry.field(
        default=None, description="Default WEIGHTED."
    )


@strawberry.input(
    description="A pipeline's forecast settings; goals and submissions survive a period change."
)
class PipelineSettingsInput:
    pipeline_id: strawberry.ID
    period_kind: PeriodKind | None = None
    forecast_amount: ForecastAmountBasis | None = None


@strawberry.input(description="A stage's forecast category and probability.")
class StageMappingInput:
    stage_id: strawberry.ID
    forecast_category: ForecastCategory | None = None
    probability: float | None = None


@strawberry.input(description="Company settings; omitted fields stay as they are.")
class CompanySettingsInput:
    currency: str | None = None
    fiscal_year_start_month: int | None = None


@strawberry.input(description="A rate from `currency` to the company currency, in force from `validFrom`.")
class ExchangeRateInput:
    currency: str
    rate: Decimal
    valid_from: date


async def _pipeline(info: strawberry.Info[Context], pipeline_id: int) -> Pipeline:
    forget(info.context.loaders.pipelines_by_id, pipeline_id)
    record = await resolve.pipeline(info.context, pipeline_id)
    assert record is not None  # just written
    return Pipeline.of(record)


@strawberry.type
class PipelineMutation:
    @strawberry.mutation(
        description=needing("forecast", "settings", "Create a pipeline with its stages."),
        extensions=needs("forecast", "settings", "createPipeline"),
    )
    async def create_pipeline(self, info: strawberry.Info[Context], input: CreatePipelineInput) -> Pipeline:
        pipeline_id = await resolve.create_pipeline(
            info.context,
            name=input.name,
            stages=[
                resolve.StageInput(
                    s.label,
                    s.probability,
                    s.state.value,
                    s.forecast_category.value if s.forecast_category else None,
                )
                for s in input.stages
            ],
            period_kind=(input.period_kind or PeriodKind.QUARTER).value,
            forecast_amount=(input.forecast_amount or ForecastAmountBasis.WEIGHTED).value,
        )
        return await _pipeline(info, pipeline_id)

    @strawberry.mutation(
        description=needing("forecast", "settings", "Change a pipeline's period kind or amount basis."),
        extensions=needs("forecast", "settings", "updatePipelineSettings"),
    )
    async def update_pipeline_settings(
        self,
        info: strawberry.Info[Context],
        input: PipelineSettingsInput,
    ) -> Pipeline:
        pipeline_id = await resolve.update_pipeline_settings(
            info.context,
            ids.decode(input.pipeline_id, "Pipeline", "pipelineId"),
            period_kind=input.period_kind.value if input.period_kind else None,
            forecast_amount=input.forecast_amount.value if input.forecast_amount else None,
        )
        return await _pipeline(info, pipeline_id)

    @strawberry.mutation(
        description=needing(
            "forecast", "settings", "Change the category a stage maps to, or its probability."
        ),
        extensions=needs("forecast", "settings", "updateStageMapping"),
    )
    async def update_stage_mapping(self, info: strawberry.Info[Context], input: StageMappingInput) -> Stage:
        stage_id = await resolve.update_stage_mapping(
            info.context,
            ids.decode(input.stage_id, "Stage", "stageId"),
            forecast_category=input.forecast_category.value if input.forecast_category else None,
            probability=input.probability,
        )
        forget(info.context.loaders.stages_by_id, stage_id)
        [record] = await resolve.stages_by_ids(info.context, [stage_id])
        assert record is not None
        return Stage.of(record)

    @strawberry.mutation(
        description=needing(
            "forecast", "settings", "Change the company currency or fiscal-year start month."
        ),
        extensions=needs("forecast", "settings", "updateCompanySettings"),
    )
    async def update_company_settings(
        self,
        info: strawberry.Info[Context],
        input: CompanySettingsInput,
    ) -> CompanySettings:
        record = await resolve.update_company_settings(
            info.context, currency=input.currency, fiscal_year_start_month=input.fiscal_year_start_month
        )
        return CompanySettings.of(record)

    @strawberry.mutation(
        description=needing("forecast", "settings", "Set the rate of a currency from a date on."),
        extensions=needs("forecast", "settings", "setExchangeRate"),
    )
    async def set_exchange_rate(
        self, info: strawberry.Info[Context], input: ExchangeRateInput
    ) -> ExchangeRate:
        record = await resolve.set_exchange_rate(
            info.context, currency=input.currency, rate=input.rate, valid_from=input.valid_from
        )
        return ExchangeRate.of(record)
