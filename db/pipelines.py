"""Pipelines, their stages, company settings and exchange rates: reads."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.pagination import ChildList
from db.records import columns_of, record_of
from db.tables import company_settings, exchange_rates, pipelines, stages


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    id: int
    name: str
    period_kind: str
    forecast_amount: str


@dataclass(frozen=True, slots=True)
class StageRecord:
    id: int
    pipeline_id: int
    label: str
    display_order: int
    probability: Decimal
    state: str
    forecast_category: str


@dataclass(frozen=True, slots=True)
class CompanySettingsRecord:
    currency: str
    fiscal_year_start_month: int


@dataclass(frozen=True, slots=True)
class ExchangeRateRecord:
    currency: str
    rate: Decimal
    valid_from: date


# A PipelineRecord's values by field name, and a StageRecord's.
PIPELINE_COLUMNS = columns_of(PipelineRecord, pipelines)
STAGE_COLUMNS = columns_of(StageRecord, stages)
SETTINGS_COLUMNS = columns_of(CompanySettingsRecord, company_settings)
RATE_COLUMNS = columns_of(ExchangeRateRecord, exchange_rates)
_PIPELINE = tuple(PIPELINE_COLUMNS.values())
_STAGE = tuple(STAGE_COLUMNS.values())


async def all_pipelines(conn: AsyncConnection) -> list[PipelineRecord]:
    rows = await conn.execute(select(*_PIPELINE).order_by(pipelines.c.id))
    return [record_of(PipelineRecord, row) for row in rows]


async def pipelines_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, PipelineRecord]:
    rows = await conn.execute(select(*_PIPELINE).where(pipelines.c.id.in_(list(ids))))
    return {row.id: record_of(PipelineRecord, row) for row in rows}


STAGES = ChildList(select(*_STAGE), stages.c.pipeline_id, (stages.c.display_order,))


async def stages_by_pipeline_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[StageRecord]]:
    return await STAGES.fetch(conn, ids, lambda row: record_of(StageRecord, row))


async def stages_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, StageRecord]:
    rows = await conn.execute(select(*_STAGE).where(stages.c.id.in_(list(ids))))
    return {row.id: record_of(StageRecord, row) for row in rows}


async def read_company_settings(conn: AsyncConnection) -> CompanySettingsRecord:
    row = (await conn.execute(select(*SETTINGS_COLUMNS.values()))).one()
    return record_of(CompanySettingsRecord, row)


async def all_exchange_rates(conn: AsyncConnection) -> list[ExchangeRateRecord]:
    rows = await conn.execute(
        select(*RATE_COLUMNS.values()).order_by(exchange_rates.c.currency, exchange_rates.c.valid_from.desc())
    )
    return [record_of(ExchangeRateRecord, row) for row in rows]


async def insert_pipeline(
    conn: AsyncConnection,
    *,
    name: str,
    period_kind: str,
    forecast_amount: str,
    stage_rows: list[dict[str, object]],
) -> int:
    result = await conn.execute(
        insert(pipelines)
        .values(name=name, period_kind=period_kind, forecast_amount=forecast_amount)
        .returning(pipelines.c.id)
    )
    pipeline_id: int = result.scalar_one()
    await conn.execute(insert(stages), [row | {"pipeline_id": pipeline_id} for row in stage_rows])
    return pipeline_id


async def update_pipeline(conn: AsyncConnection, pipeline_id: int, values: dict[str, object]) -> None:
    await conn.execute(update(pipelines).where(pipelines.c.id == pipeline_id).values(**values))


async def update_stage(conn: AsyncConnection, stage_id: int, values: dict[str, object]) -> None:
    await conn.execute(update(stages).where(stages.c.id == stage_id).values(**values))


async def update_company_settings(conn: AsyncConnection, values: dict[str, object]) -> CompanySettingsRecord:
    row = (
        await conn.execute(update(company_settings).values(**values).returning(*SETTINGS_COLUMNS.values()))
    ).one()
    return record_of(CompanySettingsRecord, row)


async def lock_company_settings(conn: AsyncConnection) -> CompanySettingsRecord:
    row = (await conn.execute(select(*SETTINGS_COLUMNS.values()).with_for_update())).one()
    return record_of(CompanySettingsRecord, row)


async def upsert_exchange_rate(
    conn: AsyncConnection, currency: str, rate: Decimal, valid_from: date
) -> ExchangeRateRecord:
    stmt = pg_insert(exchange_rates).values(currency=currency, rate=rate, valid_from=valid_from)
    stmt = stmt.on_conflict_do_update(
        index_elements=[exchange_rates.c.currency, exchange_rates.c.valid_from],
        set_={"rate": stmt.excluded.rate},
    )
    row = (await conn.execute(stmt.returning(*RATE_COLUMNS.values()))).one()
    return record_of(ExchangeRateRecord, row)
