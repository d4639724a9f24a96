"""Deals over GraphQL: creation, validation, history, categories, rate freezing, concurrency, filters."""

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import from_base64

from db.tables import deal_changes, deals
from tests.builders import RATE, pipelines_world
from tests.support import data, error_code, token_of

TODAY = date.today()
DEAL_FIELDS = """id name amount currency amountInCompanyCurrency probability weightedAmount forecastCategory
  forecastCategoryIsManual closeDate nextStep version owner { name } stage { label } pipeline { name }"""
CREATE = f"mutation($input: CreateDealInput!) {{ createDeal(input: $input) {{ {DEAL_FIELDS} }} }}"
UPDATE = f"mutation($input: UpdateDealInput!) {{ updateDeal(input: $input) {{ {DEAL_FIELDS} }} }}"


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    return await pipelines_world(client, admin)


async def _create(client: httpx.AsyncClient, world: dict[str, Any], **fields: Any) -> dict[str, Any]:
    deal = {
        "name": "Acme renewal",
        "pipelineId": world["pipeline_id"],
        "stageId": world["stage"]["Qualified to buy"],
        "amount": "1000.00",
        "closeDate": TODAY.isoformat(),
    } | fields
    return dict((await data(client, CREATE, {"input": deal}, token=world["token"]))["createDeal"])


async def _update(
    client: httpx.AsyncClient, world: dict[str, Any], deal_id: str, **fields: Any
) -> dict[str, Any]:
    result = await data(client, UPDATE, {"input": {"id": deal_id} | fields}, token=world["token"])
    return dict(result["updateDeal"])


async def _history(
    client: httpx.AsyncClient, world: dict[str, Any], deal_id: str
) -> list[tuple[str, str | None, str | None]]:
    query = """query($id: ID!) { node(id: $id) { ... on Deal { history { totalCount edges { node {
      at actor { name } field oldValue newValue oldStage { id label } newStage { id label }
      oldOwner { id name } newOwner { id name } } } } } } }"""
    history = (await data(client, query, {"id": deal_id}, token=world["token"]))["node"]["history"]
    assert history["totalCount"] == len(history["edges"])
    assert all(e["node"]["actor"] == {"name": "Astrid Admin"} for e in history["edges"])
    for edge in history["edges"]:
        # A stage or owner change names the objects too (as the IDs of its values); other fields none.
        change = edge["node"]
        stages, owners = (change["oldStage"], change["newStage"]), (change["oldOwner"], change["newOwner"])
        if change["field"] == "stage":
            assert [s and s["id"] for s in stages] == [change["oldValue"], change["newValue"]]
        else:
            assert stages == (None, None)
        if change["field"] == "owner":
            assert [o and o["id"] for o in owners] == [change["oldValue"], change["newValue"]]
        else:
            assert owners == (None, None)
    return [
        (e["node"]["field"], e["node"]["oldValue"], e["node"]["newValue"]) for e in reversed(history["edges"])
    ]


async def test_create_deal_in_the_company_currency(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    deal = await _create(client, world, amount="1234.50", ownerId=world["rep"], nextStep="Call the CFO")
    assert {k: deal[k] for k in ("amount", "currency", "amountInCompanyCurrency", "probability", "weightedAmount",
                                 "forecastCategory", "forecastCategoryIsManual", "nextStep", "version")} == {
        "amount": "1234.50", "currency": "USD", "amountInCompanyCurrency": "1234.50", "probability": 0.4,
        "weightedAmount": "493.80", "forecastCategory": "PIPELINE", "forecastCategoryIsManual": False,
        "nextStep": "Call the CFO", "version": 1,
    }  # fmt: skip
    assert deal["owner"] == {"name": "Rita Rep"}
    assert deal["stage"] == {"label": "Qualified to buy"}
    assert deal["pipeline"] == {"name": "New business"}


async def test_create_deal_with_overrides_and_another_currency(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    deal = await _create(
        client, world, amount="100.01", currency="eur", probability=0.55, forecastCategory="COMMIT"
    )
    assert (deal["currency"], deal["amountInCompanyCurrency"]) == ("EUR", "110.01")  # 110.011 → 110.01
    assert (deal["probability"], deal["weightedAmount"]) == (0.55, "60.51")  # 60.50605 → 60.51
    assert (deal["forecastCategory"], deal["forecastCategoryIsManual"]) == ("COMMIT", True)
    assert deal["owner"] is None


async def _deal_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(deals)) or 0)


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"amount": "-1.00"}, "BAD_USER_INPUT", "is negative"),
        ({"amount": "NaN"}, "BAD_USER_INPUT", "is not a finite number"),
        ({"amount": "Infinity"}, "BAD_USER_INPUT", "is not a finite number"),
        ({"amount": "12.345"}, "BAD_USER_INPUT", "has more than 2 decimals"),
        ({"amount": "10000000000000"}, "BAD_USER_INPUT", "must be below 10^13"),
        ({"amount": "ten"}, "BAD_USER_INPUT", "is not a decimal number"),
        ({"amount": True}, "BAD_USER_INPUT", "is not a decimal number"),
        ({"currency": "XYZ"}, "BAD_USER_INPUT", "is not an ISO 4217 currency code"),
        ({"currency": "SEK"}, "BAD_USER_INPUT", "no exchange rate for SEK is in force"),
        ({"probability": 1.5}, "BAD_USER_INPUT", "outside [0, 1]"),
        ({"probability": -0.1}, "BAD_USER_INPUT", "outside [0, 1]"),
        ({"name": "  "}, "BAD_USER_INPUT", "name must not be empty"),
        ({"name": "x" * 201}, "BAD_USER_INPUT", "at most 200 are accepted"),
        ({"forecastCategory": "CLOSED_WON"}, "BAD_USER_INPUT", "CLOSED_WON belongs to deals in a won stage"),
        ({"stageIdOf": "Closed won", "forecastCategory": "COMMIT"}, "BAD_USER_INPUT", "is always CLOSED_WON"),
        ({"stageId": "other"}, "BAD_USER_INPUT", "that stage belongs to another pipeline"),
        ({"pipelineId": "UGlwZWxpbmU6OTk5OTk5"}, "NOT_FOUND", "no Pipeline with id 'UGlwZWxpbmU6OTk5OTk5'"),
        ({"pipelineId": "rep"}, "BAD_USER_INPUT", "is the ID of a User, not of a Pipeline"),
        ({"stageId": "%%%"}, "BAD_USER_INPUT", "stageId: '%%%' is not an ID issued by this API"),
        ({"ownerId": "VXNlcjo5OTk5OTk="}, "NOT_FOUND", "no User with id 'VXNlcjo5OTk5OTk='"),
        ({"closeDate": "2026-02-30"}, "BAD_USER_INPUT", "2026-02-30"),
    ],
)
async def test_create_deal_refuses_bad_input_and_writes_nothing(
    client: httpx.AsyncClient,
    world: dict[str, Any],
    engine: AsyncEngine,
    fields: dict[str, Any],
    code: str,
    message: str,
) -> None:
    fields = dict(fields)
    if "stageIdOf" in fields:
        fields["stageId"] = world["stage"][fields.pop("stageIdOf")]
    if fields.get("stageId") == "other":
        fields["stageId"] = world["other_stage"]
    if fields.get("pipelineId") == "rep":
        fields["pipelineId"] = world["rep"]
    deal = {
        "name": "Bad deal",
        "pipelineId": world["pipeline_id"],
        "stageId": world["stage"]["Qualified to buy"],
        "amount": "10.00",
        "closeDate": TODAY.isoformat(),
    } | fields
    before = await _deal_count(engine)
    got, text = await error_code(client, CREATE, {"input": deal}, token=world["token"])
    assert (got, message in text) == (code, True), text
    assert await _deal_count(engine) == before


async def test_history_categories_and_probabilities(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    stage = world["stage"]
    deal = await _create(client, world)
    moved = await _update(client, world, deal["id"], stageId=stage["Contract sent"], amount="1500.00")
    assert (moved["forecastCategory"], moved["probability"], moved["version"]) == ("COMMIT", 0.9, 2)
    manual = await _update(client, world, deal["id"], forecastCategory="BEST_CASE")
    assert (manual["forecastCategory"], manual["forecastCategoryIsManual"]) == ("BEST_CASE", True)
    kept = await _update(client, world, deal["id"], stageId=stage["Appointment scheduled"])
    assert (kept["forecastCategory"], kept["forecastCategoryIsManual"]) == ("BEST_CASE", True)
    reset = await _update(client, world, deal["id"], resetForecastCategory=True)
    assert (reset["forecastCategory"], reset["forecastCategoryIsManual"]) == ("PIPELINE", False)
    won = await _update(client, world, deal["id"], stageId=stage["Closed won"])
    assert (won["forecastCategory"], won["probability"], won["weightedAmount"]) == (
        "CLOSED_WON",
        1.0,
        "1500.00",
    )
    lost = await _update(client, world, deal["id"], stageId=stage["Closed lost"], nextStep="Post-mortem")
    assert (lost["forecastCategory"], lost["probability"], lost["weightedAmount"]) == (
        "NOT_FORECASTED",
        0.0,
        "0.00",
    )
    cleared = await _update(client, world, deal["id"], nextStep=None, ownerId=world["rep"])
    assert (cleared["nextStep"], cleared["owner"], cleared["version"]) == (None, {"name": "Rita Rep"}, 8)
    unchanged = await _update(client, world, deal["id"], amount="1500.00")
    assert unchanged["version"] == 8

    s = stage
    rep_id = world["rep"]
    assert await _history(client, world, deal["id"]) == [
        ("stage", s["Qualified to buy"], s["Contract sent"]),
        ("amount", "1000.00", "1500.00"),
        ("forecastCategory", "PIPELINE", "COMMIT"),
        ("probability", "0.4", "0.9"),
        ("forecastCategory", "COMMIT", "BEST_CASE"),
        ("stage", s["Contract sent"], s["Appointment scheduled"]),
        ("probability", "0.9", "0.2"),
        ("forecastCategory", "BEST_CASE", "PIPELINE"),
        ("stage", s["Appointment scheduled"], s["Closed won"]),
        ("forecastCategory", "PIPELINE", "CLOSED_WON"),
        ("probability", "0.2", "1"),
        ("stage", s["Closed won"], s["Closed lost"]),
        ("nextStep", None, "Post-mortem"),
        ("forecastCategory", "CLOSED_WON", "NOT_FORECASTED"),
        ("probability", "1", "0"),
        ("owner", None, rep_id),
        ("nextStep", "Post-mortem", None),
    ]


async def test_manual_category_rules_on_update(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    deal = await _create(client, world)
    won = await _update(client, world, deal["id"], stageId=world["stage"]["Closed won"])
    code, message = await error_code(
        client, UPDATE, {"input": {"id": won["id"], "forecastCategory": "COMMIT"}}, token=world["token"]
    )
    assert (code, "is always CLOSED_WON" in message) == ("BAD_USER_INPUT", True)
    both = {"id": deal["id"], "forecastCategory": "COMMIT", "resetForecastCategory": True}
    assert (await error_code(client, UPDATE, {"input": both}, token=world["token"]))[0] == "BAD_USER_INPUT"
    nulled = {"id": deal["id"], "amount": None}
    code, message = await error_code(client, UPDATE, {"input": nulled}, token=world["token"])
    assert (code, message) == ("BAD_USER_INPUT", "amount cannot be null; omit it to keep the current value")
    other = {"id": deal["id"], "stageId": world["other_stage"]}
    assert (await error_code(client, UPDATE, {"input": other}, token=world["token"]))[
        1
    ] == "stageId: that stage belongs to another pipeline"


async def test_a_stage_mapping_change_moves_deals_that_follow_it(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    follows = await _create(client, world, stageId=world["stage"]["Appointment scheduled"])
    manual = await _create(
        client, world, stageId=world["stage"]["Appointment scheduled"], forecastCategory="COMMIT"
    )
    mapping = "mutation($input: StageMappingInput!) { updateStageMapping(input: $input) { forecastCategory probability } }"
    changed = await data(
        client,
        mapping,
        {
            "input": {
                "stageId": world["stage"]["Appointment scheduled"],
                "forecastCategory": "BEST_CASE",
                "probability": 0.25,
            }
        },
        token=world["token"],
    )
    assert changed["updateStageMapping"] == {"forecastCategory": "BEST_CASE", "probability": 0.25}
    query = "query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Deal { forecastCategory probability } } b: node(id: $b) { ... on Deal { forecastCategory } } }"
    now = await data(client, query, {"a": follows["id"], "b": manual["id"]}, token=world["token"])
    assert now == {
        "a": {"forecastCategory": "BEST_CASE", "probability": 0.25},
        "b": {"forecastCategory": "COMMIT"},
    }
    for bad in ({"forecastCategory": "CLOSED_WON"}, {"probability": 2.0}):
        variables = {"input": {"stageId": world["stage"]["Appointment scheduled"]} | bad}
        assert (await error_code(client, mapping, variables, token=world["token"]))[0] == "BAD_USER_INPUT"
    won = {"input": {"stageId": world["stage"]["Closed won"], "forecastCategory": "COMMIT"}}
    assert "always maps to CLOSED_WON" in (await error_code(client, mapping, won, token=world["token"]))[1]
    await data(
        client,
        mapping,
        {
            "input": {
                "stageId": world["stage"]["Appointment scheduled"],
                "forecastCategory": "PIPELINE",
                "probability": 0.2,
            }
        },
        token=world["token"],
    )


async def test_the_rate_is_frozen_when_a_deal_closes(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    stage = world["stage"]
    await data(
        client,
        RATE,
        {"input": {"currency": "GBP", "rate": "1.25", "validFrom": (TODAY - timedelta(days=10)).isoformat()}},
        token=world["token"],
    )
    closing = await _create(client, world, amount="1000.00", currency="GBP")
    staying = await _create(client, world, amount="1000.00", currency="GBP")
    assert closing["amountInCompanyCurrency"] == "1250.00"
    won = await _update(client, world, closing["id"], stageId=stage["Closed won"])
    assert won["amountInCompanyCurrency"] == "1250.00"
    # A new rate from today on, and a back-dated one between: open deals follow, the won deal does not.
    await data(
        client,
        RATE,
        {"input": {"currency": "GBP", "rate": "1.30", "validFrom": TODAY.isoformat()}},
        token=world["token"],
    )
    await data(
        client,
        RATE,
        {"input": {"currency": "GBP", "rate": "1.27", "validFrom": (TODAY - timedelta(days=5)).isoformat()}},
        token=world["token"],
    )
    query = "query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Deal { amountInCompanyCurrency } } b: node(id: $b) { ... on Deal { amountInCompanyCurrency } } }"
    now = await data(client, query, {"a": closing["id"], "b": staying["id"]}, token=world["token"])
    assert now == {"a": {"amountInCompanyCurrency": "1250.00"}, "b": {"amountInCompanyCurrency": "1300.00"}}
    # A future rate is not in force yet.
    await data(
        client,
        RATE,
        {"input": {"currency": "GBP", "rate": "2.00", "validFrom": (TODAY + timedelta(days=3)).isoformat()}},
        token=world["token"],
    )
    reopened = await _update(client, world, closing["id"], stageId=stage["Contract sent"])
    assert reopened["amountInCompanyCurrency"] == "1300.00"
    relost = await _update(client, world, closing["id"], stageId=stage["Closed lost"], currency="EUR")
    assert relost["amountInCompanyCurrency"] == "1100.00"


async def test_stale_updates_are_conflicts(
    client: httpx.AsyncClient, world: dict[str, Any], engine: AsyncEngine
) -> None:
    deal = await _create(client, world)
    await _update(client, world, deal["id"], amount="1100.00", expectedVersion=1)
    code, message = await error_code(
        client,
        UPDATE,
        {"input": {"id": deal["id"], "amount": "1200.00", "expectedVersion": 1}},
        token=world["token"],
    )
    assert (code, "it is at version 2, you expected 1" in message) == ("CONFLICT", True)
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(deals.c.amount).where(deals.c.id == int(from_base64(deal["id"])[1]))
        )
    assert stored == 1100


async def test_concurrent_updates(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    deal = await _create(client, world)
    racing = [
        client.post("/graphql", json={"query": UPDATE, "variables": {"input": {"id": deal["id"], "amount": f"{2000 + i}.00", "expectedVersion": 1}}},
                    headers={"Authorization": f"Bearer {world['token']}"})
        for i in range(5)
    ]  # fmt: skip
    bodies = [r.json() for r in await asyncio.gather(*racing)]
    winners = [b for b in bodies if "errors" not in b]
    assert len(winners) == 1
    assert sorted(b["errors"][0]["extensions"]["code"] for b in bodies if "errors" in b) == ["CONFLICT"] * 4
    # Without expectedVersion every concurrent change lands, and the history keeps each one.
    blind = [
        client.post("/graphql", json={"query": UPDATE, "variables": {"input": {"id": deal["id"], "nextStep": f"step {i}"}}},
                    headers={"Authorization": f"Bearer {world['token']}"})
        for i in range(5)
    ]  # fmt: skip
    assert all("errors" not in r.json() for r in await asyncio.gather(*blind))
    history = await _history(client, world, deal["id"])
    assert [h for h in history if h[0] == "amount"] == [
        ("amount", "1000.00", winners[0]["data"]["updateDeal"]["amount"])
    ]
    steps = [h for h in history if h[0] == "nextStep"]
    assert len(steps) == 5
    assert [old for _, old, _ in steps[1:]] == [new for _, _, new in steps[:-1]]  # each saw the one before


async def test_deal_columns(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    rep = token_of(world["rep"])
    assert (await data(client, "{ viewer { dealColumns } }", token=rep))["viewer"]["dealColumns"] == [
        "name", "owner", "stage", "amount", "closeDate", "forecastCategory",
    ]  # fmt: skip
    chosen = await data(
        client, 'mutation { setDealColumns(columns: ["name", "weightedAmount", "nextStep"]) }', token=rep
    )
    assert chosen == {"setDealColumns": ["name", "weightedAmount", "nextStep"]}
    assert (await data(client, "{ viewer { dealColumns } }", token=rep))["viewer"]["dealColumns"] == [
        "name",
        "weightedAmount",
        "nextStep",
    ]
    for bad in ('["colour"]', '["name", "name"]'):
        assert (await error_code(client, f"mutation {{ setDealColumns(columns: {bad}) }}", token=rep))[
            0
        ] == "BAD_USER_INPUT"
    query = "query($id: ID!) { node(id: $id) { ... on User { dealColumns } } }"
    assert (await error_code(client, query, {"id": world["rep"]}, token=world["token"]))[0] == "FORBIDDEN"


async def test_changes_to_a_deal_are_written_with_their_history_or_not_at_all(
    client: httpx.AsyncClient, world: dict[str, Any], engine: AsyncEngine
) -> None:
    deal = await _create(client, world)
    async with engine.connect() as conn:
        before = await conn.scalar(select(func.count()).select_from(deal_changes))
    bad = {
        "id": deal["id"],
        "name": "Renamed",
        "currency": "SEK",
    }  # the name is fine, the currency has no rate
    assert (await error_code(client, UPDATE, {"input": bad}, token=world["token"]))[0] == "BAD_USER_INPUT"
    query = "query($id: ID!) { node(id: $id) { ... on Deal { name version } } }"
    assert (await data(client, query, {"id": deal["id"]}, token=world["token"]))["node"] == {
        "name": "Acme renewal",
        "version": 1,
    }
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(deal_changes)) == before
