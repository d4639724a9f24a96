"""Real concurrency against a real server process: submissions, adjustments and racing deal updates."""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from strawberry.relay import to_base64

from authz.roles import assign_roles
from db.engine import create_engine
from db.users import create_user, user_by_email
from pipecast.seed import SeedPlan, seed
from tests.support import SECRET, cli_env, served, token_for

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them


@pytest.fixture(scope="module")
async def company(database_url: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await seed(conn, SeedPlan(teams=3, users=6, deals=30))
        rep = await create_user(conn, name="Rhea Rep", email="rhea@example.com", sales_seat=True)
        await assign_roles(conn, rep, ["sales_rep"])
    async with engine.connect() as conn:
        admin = await user_by_email(conn, "admin@example.com")
        pipeline = await conn.scalar(text("SELECT id FROM pipelines LIMIT 1"))
        deal = await conn.scalar(text("SELECT id FROM deals ORDER BY id LIMIT 1"))
    await engine.dispose()
    assert admin is not None
    return {
        "admin": admin.id,
        "rep": rep,
        "pipeline": to_base64("Pipeline", pipeline),
        "deal": to_base64("Deal", deal),
    }


@pytest.fixture(scope="module")
def server(
    database_url: str, company: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("concurrency") / "serve.log"
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    with served("--workers", "2", env=env, log=log) as running:
        yield running.base


async def _many(base: str, token: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=httpx.Limits(max_connections=60)
    ) as client:
        responses = await asyncio.gather(
            *(client.post("/graphql", json=body, headers=headers) for body in bodies)
        )
    return [r.json() for r in responses]


SUBMIT = "mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id } }"
HISTORY = "query($u: ID!, $p: ID!, $period: Period!) { forecastSubmissions(subject: {userId: $u}, pipelineId: $p, period: $period, first: 200) { totalCount } }"


async def test_fifty_concurrent_submissions(server: str, company: dict[str, Any]) -> None:
    rep, token = to_base64("User", company["rep"]), token_for(company["rep"])

    def body(period: str, key: str) -> dict[str, Any]:
        return {
            "query": SUBMIT,
            "variables": {
                "i": {
                    "subject": {"userId": rep},
                    "pipelineId": company["pipeline"],
                    "period": period,
                    "amount": "100.00",
                    "idempotencyKey": key,
                }
            },
        }

    distinct = await _many(server, token, [body("2031-Q1", f"k{n}") for n in range(50)])
    assert all("errors" not in r for r in distinct), distinct[:2]
    shared = await _many(server, token, [body("2031-Q2", "same") for _ in range(50)])
    assert all("errors" not in r for r in shared), shared[:2]
    assert len({r["data"]["submitForecast"]["id"] for r in shared}) == 1
    for period, expected in (("2031-Q1", 50), ("2031-Q2", 1)):
        [result] = await _many(
            server,
            token,
            [{"query": HISTORY, "variables": {"u": rep, "p": company["pipeline"], "period": period}}],
        )
        assert result["data"]["forecastSubmissions"]["totalCount"] == expected


ADJUST = "mutation($i: AdjustForecastInput!) { adjustForecast(input: $i) { id } }"
ADJUSTMENTS = "query($u: ID!, $p: ID!, $period: Period!) { forecastAdjustments(subject: {userId: $u}, pipelineId: $p, period: $period, first: 50) { totalCount } }"


async def test_twenty_concurrent_adjustments_with_one_key(server: str, company: dict[str, Any]) -> None:
    rep, token = to_base64("User", company["rep"]), token_for(company["admin"])
    body = {"query": ADJUST, "variables": {"i": {"subject": {"userId": rep}, "pipelineId": company["pipeline"],
            "period": "2031-Q3", "amount": "80.00", "note": "a retried call", "idempotencyKey": "once"}}}  # fmt: skip
    results = await _many(server, token, [body] * 20)
    assert all("errors" not in r for r in results), results[:2]
    assert len({r["data"]["adjustForecast"]["id"] for r in results}) == 1
    [listed] = await _many(server, token, [{"query": ADJUSTMENTS, "variables": {
        "u": rep, "p": company["pipeline"], "period": "2031-Q3"}}])  # fmt: skip
    assert listed["data"]["forecastAdjustments"]["totalCount"] == 1


async def test_racing_updates_with_one_expected_version(server: str, company: dict[str, Any]) -> None:
    token = token_for(company["admin"])
    [current] = await _many(
        server,
        token,
        [
            {
                "query": "query($id: ID!) { node(id: $id) { ... on Deal { version } } }",
                "variables": {"id": company["deal"]},
            }
        ],
    )
    version = current["data"]["node"]["version"]
    update = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { amount } }"
    results = await _many(server, token, [
        {"query": update, "variables": {"i": {"id": company["deal"], "amount": f"{5000 + n}.00", "expectedVersion": version}}}
        for n in range(10)
    ])  # fmt: skip
    winners = [r for r in results if "errors" not in r]
    assert len(winners) == 1
    assert sorted(r["errors"][0]["extensions"]["code"] for r in results if "errors" in r) == ["CONFLICT"] * 9
    history = "query($id: ID!) { node(id: $id) { ... on Deal { amount history(first: 50) { edges { node { field newValue } } } } } }"
    [after] = await _many(server, token, [{"query": history, "variables": {"id": company["deal"]}}])
    amounts = [
        e["node"]["newValue"]
        for e in after["data"]["node"]["history"]["edges"]
        if e["node"]["field"] == "amount"
    ]
    assert amounts == [winners[0]["data"]["updateDeal"]["amount"]]
    assert after["data"]["node"]["amount"] == amounts[0]
