"""Deal.stageMovement and Deal.weightedChange over a date range, from the deal history (docs/domain.md)."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import from_base64

from db.tables import deal_changes, deals
from tests.builders import Api
from tests.support import error_code, token_for

SIGNALS = """query($id: ID!, $from: Date!, $to: Date!) { node(id: $id) { ... on Deal {
  stageMovement(from: $from, to: $to) weightedChange(from: $from, to: $to) } } }"""


def _key(global_id: str) -> int:
    return int(from_base64(global_id)[1])


async def _backdate(engine: AsyncEngine, deal: str, created: str, changed: str) -> None:
    """Time passes: the deal was created on `created` and changed on `changed`."""
    async with engine.begin() as conn:
        await conn.execute(
            update(deals)
            .where(deals.c.id == _key(deal))
            .values(created_at=datetime.fromisoformat(created).replace(tzinfo=UTC))
        )
        await conn.execute(
            update(deal_changes)
            .where(deal_changes.c.deal_id == _key(deal))
            .values(at=datetime.fromisoformat(changed).replace(tzinfo=UTC))
        )


@pytest.fixture(scope="module")
async def moved(client: httpx.AsyncClient, admin: int, engine: AsyncEngine) -> dict[str, Any]:
    api = Api(client, token_for(admin))
    pipeline = await api.pipeline("Signals")
    update_deal = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { version } }"
    up = await api.deal(pipeline, "Qualified to buy", "1000.00", "2026-06-30")
    await api.run(
        update_deal, i={"id": up, "stageId": pipeline["stages"]["Contract sent"], "amount": "2000.00"}
    )
    down = await api.deal(pipeline, "Contract sent", "1000.00", "2026-06-30")
    await api.run(update_deal, i={"id": down, "stageId": pipeline["stages"]["Appointment scheduled"]})
    flat = await api.deal(pipeline, "Qualified to buy", "1000.00", "2026-06-30")
    await api.run(update_deal, i={"id": flat, "amount": "500.00", "probability": 0.8})
    for deal in (up, down, flat):
        await _backdate(engine, deal, "2026-01-10T09:00:00", "2026-03-15T12:00:00")
    return {"api": api, "up": up, "down": down, "flat": flat}


@pytest.mark.parametrize(
    ("deal", "start", "end", "expected"),
    [
        ("up", "2026-03-01", "2026-03-31", ("FORWARD", "INCREASED")),
        ("down", "2026-03-01", "2026-03-31", ("BACKWARD", "DECREASED")),
        ("flat", "2026-03-01", "2026-03-31", ("NONE", "NONE")),  # 1000 × 0.4 = 500 × 0.8
        ("up", "2026-03-15", "2026-03-15", ("FORWARD", "INCREASED")),
        ("up", "2026-04-01", "2026-04-30", ("NONE", "NONE")),  # nothing changed in April
        ("up", "2026-02-01", "2026-03-14", ("NONE", "NONE")),  # the change came after the range
        ("up", "2026-01-01", "2026-03-31", ("NONE", "NONE")),  # created after the range started
    ],
)
async def test_signals_over_a_range(
    moved: dict[str, Any], deal: str, start: str, end: str, expected: tuple[str, str]
) -> None:
    api: Api = moved["api"]
    result = (await api.run(SIGNALS, id=moved[deal], **{"from": start, "to": end}))["node"]
    assert (result["stageMovement"], result["weightedChange"]) == expected


async def test_a_range_that_ends_before_it_starts_is_refused(moved: dict[str, Any]) -> None:
    api: Api = moved["api"]
    variables = {"id": moved["up"], "from": "2026-03-31", "to": "2026-03-01"}
    code, message = await error_code(api.client, SIGNALS, variables, token=api.token)
    assert (code, message) == ("BAD_USER_INPUT", "to (2026-03-01) is before from (2026-03-31)")
