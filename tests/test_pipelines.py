"""Pipelines, stages, company settings and exchange rates over GraphQL: as created, the current period,
settings changes audited and validated, refused changes writing nothing."""

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.periods import period_containing
from db.tables import audit_log, exchange_rates, pipelines, stages
from tests.builders import RATE, pipelines_world
from tests.support import data, error_code, token_of

TODAY = date.today()


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    return await pipelines_world(client, admin)


async def test_the_pipeline_as_created(world: dict[str, Any]) -> None:
    pipeline = world["pipeline"]
    assert (pipeline["name"], pipeline["periodKind"], pipeline["forecastAmount"]) == (
        "New business",
        "QUARTER",
        "WEIGHTED",
    )
    assert [
        (s["label"], s["probability"], s["state"], s["forecastCategory"]) for s in pipeline["stages"]
    ] == [
        ("Appointment scheduled", 0.2, "OPEN", "PIPELINE"),
        ("Qualified to buy", 0.4, "OPEN", "PIPELINE"),
        ("Presentation scheduled", 0.6, "OPEN", "BEST_CASE"),
        ("Decision maker bought-in", 0.8, "OPEN", "BEST_CASE"),
        ("Contract sent", 0.9, "OPEN", "COMMIT"),
        ("Closed won", 1.0, "WON", "CLOSED_WON"),
        ("Closed lost", 0.0, "LOST", "NOT_FORECASTED"),
    ]


async def test_pipelines_settings_and_current_period(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    result = await data(
        client,
        "{ pipelines { name currentPeriod { key kind start end } } settings { currency fiscalYearStartMonth } exchangeRates { currency rate validFrom } }",
        token=world["token"],
    )
    quarter = period_containing(TODAY, "QUARTER")
    month = period_containing(TODAY, "MONTH")
    assert result["pipelines"] == [
        {
            "name": "New business",
            "currentPeriod": {
                "key": quarter.key,
                "kind": "QUARTER",
                "start": quarter.start().isoformat(),
                "end": quarter.end().isoformat(),
            },
        },
        {
            "name": "Renewals",
            "currentPeriod": {
                "key": month.key,
                "kind": "MONTH",
                "start": month.start().isoformat(),
                "end": month.end().isoformat(),
            },
        },
    ]
    assert result["settings"] == {"currency": "USD", "fiscalYearStartMonth": 1}
    assert result["exchangeRates"] == [{"currency": "EUR", "rate": "1.1000000000", "validFrom": "2020-01-01"}]


async def _settings_rows(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as conn:
        return tuple(
            [
                int(await conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in (pipelines, stages, exchange_rates, audit_log)
            ]
        )


async def test_settings_changes_are_audited_and_validated(
    client: httpx.AsyncClient, world: dict[str, Any], engine: AsyncEngine
) -> None:
    token = world["token"]
    settings = "mutation($input: CompanySettingsInput!) { updateCompanySettings(input: $input) { currency fiscalYearStartMonth } }"
    before = await _settings_rows(engine)
    changed = await data(client, settings, {"input": {"fiscalYearStartMonth": 4}}, token=token)
    assert changed["updateCompanySettings"] == {"currency": "USD", "fiscalYearStartMonth": 4}
    period = await data(client, "{ pipelines { currentPeriod { key start } } }", token=token)
    fiscal = period_containing(TODAY, "QUARTER", 4)
    assert period["pipelines"][0]["currentPeriod"] == {
        "key": fiscal.key,
        "start": fiscal.start(4).isoformat(),
    }
    await data(client, settings, {"input": {"fiscalYearStartMonth": 1}}, token=token)
    pipeline_settings = "mutation($input: PipelineSettingsInput!) { updatePipelineSettings(input: $input) { periodKind forecastAmount } }"
    result = await data(
        client,
        pipeline_settings,
        {"input": {"pipelineId": world["pipeline_id"], "forecastAmount": "RAW"}},
        token=token,
    )
    assert result["updatePipelineSettings"] == {"periodKind": "QUARTER", "forecastAmount": "RAW"}
    await data(
        client,
        pipeline_settings,
        {"input": {"pipelineId": world["pipeline_id"], "forecastAmount": "WEIGHTED"}},
        token=token,
    )
    assert (await _settings_rows(engine))[3] == before[3] + 4

    create = "mutation($input: CreatePipelineInput!) { createPipeline(input: $input) { id } }"
    refused: list[tuple[str, dict[str, Any], str]] = [
        (settings, {"input": {"fiscalYearStartMonth": 13}}, "fiscalYearStartMonth 13 must be 1–12"),
        (settings, {"input": {"currency": "ABC"}}, "is not an ISO 4217 currency code"),
        (
            RATE,
            {"input": {"currency": "USD", "rate": "1.5", "validFrom": "2026-01-01"}},
            "USD is the company currency",
        ),
        (
            RATE,
            {"input": {"currency": "NOK", "rate": "0", "validFrom": "2026-01-01"}},
            "must be a positive number",
        ),
        (
            RATE,
            {"input": {"currency": "NOK", "rate": "-2", "validFrom": "2026-01-01"}},
            "must be a positive number",
        ),
        (create, {"input": {"name": "Empty", "stages": []}}, "a pipeline needs at least one stage"),
        (
            create,
            {"input": {"name": "Dup", "stages": [{"label": "A", "probability": 0.1, "state": "OPEN"}] * 2}},
            "labels must be different",
        ),
        (
            create,
            {"input": {"name": "P", "stages": [{"label": "A", "probability": 1.1, "state": "OPEN"}]}},
            "outside [0, 1]",
        ),
        (
            create,
            {
                "input": {
                    "name": "P",
                    "stages": [
                        {"label": "W", "probability": 1, "state": "WON", "forecastCategory": "COMMIT"}
                    ],
                }
            },
            "always maps to CLOSED_WON",
        ),
    ]
    before = await _settings_rows(engine)
    for operation, variables, message in refused:
        code, text = await error_code(client, operation, variables, token=token)
        assert (code, message in text) == ("BAD_USER_INPUT", True), text
    assert await _settings_rows(engine) == before

    rep = token_of(world["rep"])
    for operation, variables in (
        (settings, {"input": {"fiscalYearStartMonth": 2}}),
        (RATE, {"input": {"currency": "NOK", "rate": "0.09", "validFrom": "2026-01-01"}}),
        (
            create,
            {"input": {"name": "Mine", "stages": [{"label": "A", "probability": 0.1, "state": "OPEN"}]}},
        ),
        (pipeline_settings, {"input": {"pipelineId": world["pipeline_id"], "periodKind": "MONTH"}}),
    ):
        assert (await error_code(client, operation, variables, token=rep))[0] == "FORBIDDEN"
    assert await _settings_rows(engine) == before
