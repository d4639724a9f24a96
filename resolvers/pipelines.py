"""Pipelines, stages, company settings and exchange rates: reads and the admin's changes (audited)."""

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

from db import pipelines as db
from db import rollups, stage_rollups
from db.periods import Period, PeriodKind, period_containing
from db.pipelines import CompanySettingsRecord, ExchangeRateRecord, PipelineRecord, StageRecord
from db.predictions import forget_learned
from resolvers import validation as check
from resolvers.common import audit, found, in_api_terms, node_target
from resolvers.context import Context
from resolvers.errors import BadUserInput
from resolvers.loaders import forget

DEFAULT_CATEGORY = {"OPEN": "PIPELINE", "WON": "CLOSED_WON", "LOST": "NOT_FORECASTED"}


async def pipelines(context: Context) -> list[PipelineRecord]:
    async with context.engine.connect() as conn:
        records = await db.all_pipelines(conn)
    for r in records:
        context.loaders.pipelines_by_id.prime(r.id, r)
    return records


async def pipelines_by_ids(context: Context, ids: Iterable[int]) -> list[PipelineRecord | None]:
    return list(await context.loaders.pipelines_by_id.load_many(list(ids)))


async def pipeline(context: Context, pipeline_id: int) -> PipelineRecord | None:
    return await context.loaders.pipelines_by_id.load(pipeline_id)


async def stages_by_ids(context: Context, ids: Iterable[int]) -> list[StageRecord | None]:
    return list(await context.loaders.stages_by_id.load_many(list(ids)))


async def stages_of(context: Context, pipeline_id: int) -> list[StageRecord]:
    return await context.loaders.stages_by_pipeline.load(pipeline_id)


async def company_settings(context: Context) -> CompanySettingsRecord:
    settings = await context.loaders.settings.load(None)
    assert settings is not None  # the migration creates the single row
    return settings


async def current_period(context: Context, pipeline: PipelineRecord, today: date | None = None) -> Period:
    return await current_period_of(context, pipeline.period_kind, today)


async def current_period_of(context: Context, period_kind: str, today: date | None = None) -> Period:
    """Today's period of a kind (quarters follow the company's fiscal year)."""
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    kind: PeriodKind = "MONTH" if period_kind == "MONTH" else "QUARTER"
    return period_containing(today or date.today(), kind, fiscal_start)


async def exchange_rates(context: Context) -> list[ExchangeRateRecord]:
    async with context.engine.connect() as conn:
        return await db.all_exchange_rates(conn)


@dataclass(frozen=True)
class StageInput:
    label: str
    probability: float
    state: str
    forecast_category: str | None


def _mapping(state: str, category: str | None, field: str) -> str:
    forced = {"WON": "CLOSED_WON", "LOST": "NOT_FORECASTED"}.get(state)
    if category is None:
        return DEFAULT_CATEGORY[state]
    if forced and category != forced:
        raise BadUserInput(f"{field}: a {state} stage always maps to {forced}")
    if not forced and category == "CLOSED_WON":
        raise BadUserInput(f"{field}: an OPEN stage cannot map to CLOSED_WON")
    return category


async def create_pipeline(
    context: Context, *, name: str, stages: Sequence[StageInput], period_kind: str, forecast_amount: str
) -> int:
    name = check.name(name)
    if not stages:
        raise BadUserInput("stages: a pipeline needs at least one stage")
    labels = [check.name(s.label, f"stages[{i}].label") for i, s in enumerate(stages)]
    if len(set(labels)) != len(labels):
        raise BadUserInput("stages: labels must be different")
    rows: list[dict[str, object]] = [
        {
            "label": label,
            "display_order": order,
            "probability": check.probability(s.probability, f"stages[{order - 1}].probability"),
            "state": s.state,
            "forecast_category": _mapping(
                s.state, s.forecast_category, f"stages[{order - 1}].forecastCategory"
            ),
        }
        for order, (label, s) in enumerate(zip(labels, stages, strict=True), start=1)
    ]
    async with context.engine.begin() as conn:
        pipeline_id = await db.insert_pipeline(
            conn, name=name, period_kind=period_kind, forecast_amount=forecast_amount, stage_rows=rows
        )
        details = {
            "name": name,
            "periodKind": period_kind,
            "forecastAmount": forecast_amount,
            "stages": labels,
        }
        await audit(conn, context, "pipeline.create", node_target("Pipeline", pipeline_id), details)
    return pipeline_id


async def update_pipeline_settings(
    context: Context, pipeline_id: int, *, period_kind: str | None, forecast_amount: str | None
) -> int:
    values: dict[str, object] = {
        k: v for k, v in (("period_kind", period_kind), ("forecast_amount", forecast_amount)) if v
    }
    async with context.engine.begin() as conn:
        current = found(
            (await db.pipelines_by_ids(conn, [pipeline_id])).get(pipeline_id), "Pipeline", pipeline_id
        )
        before = {k: getattr(current, k) for k in values}
        if values and before != values:
            await db.update_pipeline(conn, pipeline_id, values)
            await audit(
                conn,
                context,
                "pipeline.settings",
                node_target("Pipeline", pipeline_id),
                {"before": in_api_terms(before), "after": in_api_terms(values)},
            )
    return pipeline_id


async def update_stage_mapping(
    context: Context, stage_id: int, *, forecast_category: str | None, probability: float | None
) -> int:
    async with context.engine.begin() as conn:
        stage = found((await db.stages_by_ids(conn, [stage_id])).get(stage_id), "Stage", stage_id)
        values: dict[str, object] = {}
        if forecast_category is not None:
            values["forecast_category"] = _mapping(stage.state, forecast_category, "forecastCategory")
        if probability is not None:
            values["probability"] = check.probability(probability)
        before = {k: getattr(stage, k) for k in values}
        if values and before != values:
            await rollups.restage(conn, stage_id, lambda: db.update_stage(conn, stage_id, values))
            forget_learned()  # the learned win rates' prior is the stage's probability
            await audit(
                conn,
                context,
                "stage.mapping",
                node_target("Stage", stage_id),
                {"before": in_api_terms(before), "after": in_api_terms(values)},
            )
    return stage_id


async def update_company_settings(
    context: Context, *, currency: str | None, fiscal_year_start_month: int | None
) -> CompanySettingsRecord:
    values: dict[str, object] = {}
    if currency is not None:
        values["currency"] = check.currency(currency)
    if fiscal_year_start_month is not None:
        if not 1 <= fiscal_year_start_month <= 12:
            raise BadUserInput(f"fiscalYearStartMonth {fiscal_year_start_month} must be 1–12")
        values["fiscal_year_start_month"] = fiscal_year_start_month
    async with context.engine.begin() as conn:
        before = await db.lock_company_settings(conn)
        if not values:
            return before
        after = await db.update_company_settings(conn, values)
        if after.fiscal_year_start_month != before.fiscal_year_start_month:
            await rollups.requarter(conn)  # the rollups' quarter buckets follow the fiscal year
            await stage_rollups.requarter(conn)
        if after != before:
            await audit(
                conn,
                context,
                "settings.company",
                "company",
                {"before": in_api_terms(asdict(before)), "after": in_api_terms(asdict(after))},
            )
    forget(context.loaders.settings, None)
    context.loaders.settings.prime(None, after)
    return after


async def set_exchange_rate(
    context: Context, *, currency: str, rate: Decimal, valid_from: date
) -> ExchangeRateRecord:
    code, value = check.currency(currency), check.rate(rate)
    async with context.engine.begin() as conn:
        company = await db.lock_company_settings(conn)
        if code == company.currency:
            raise BadUserInput(f"currency: {code} is the company currency; its rate is always 1")
        stored = await db.upsert_exchange_rate(conn, code, value, valid_from)
        await audit(
            conn,
            context,
            "exchange_rate.set",
            f"currency:{code}",
            {"rate": str(value), "validFrom": valid_from.isoformat()},
        )
    return stored
