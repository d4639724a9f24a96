"""The forecast tool against numbers worked out by hand (docs/domain.md).

Sales ⊃ West ⊃ Coast. Mona manages West (primary West); Ravi is a rep in Coast; Sara a rep in West with
an extra membership in Coast; Tom a rep in Sales; Nils owns a deal but has no sales seat. Pipeline
"Forecast" by quarter, weighted; EUR at 1.50. Period 2030-Q2 (not ended) and 2025-Q1 (ended).

Deals in 2030-Q2, as amount in company currency → weighted (category):
  Ravi  R1 Qualified 0.4        1000 USD → 400  (PIPELINE)
        R2 Contract sent 0.9    200 EUR = 300 → 270 (COMMIT)
        R3 Closed won           500 → 500 (CLOSED_WON)
        R4 Closed lost          700 → 0 (NOT_FORECASTED)
  Sara  S1 Presentation, manual COMMIT, probability 0.5: 2000 → 1000 (COMMIT)
        S2 Closed won           1000 EUR = 1500 (CLOSED_WON, rate frozen)
  Mona  M1 Decision maker 0.8   800 → 640 (BEST_CASE)
  Tom   T1 Appointment 0.2      100 → 20 (PIPELINE)
  not counted: Nils (no seat) N1 won 999; U1 unassigned won 5000; R5 in July; R6 in another pipeline.
Goals: Ravi 1500 then 2000, Sara 4000, Mona 1000, West 8000 (Coast and Sales have none of their own).
Submissions: Ravi 1200 then 1300, Sara 3000, West 5000.
"""

import json
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.tables import forecast_submissions, goals
from tests.builders import Api
from tests.support import data, error_code, token_for, token_of

P = "2030-Q2"
ROW = """subject { ... on User { name } ... on Team { name } } goal closedWon gap goalAttainment pipelineValue
  pipelineCoverage categories { category amount count } total totalCoverage weightedPipeline dealCount
  submission { amount note } submissionsTotal accuracy restricted"""
TABLE = f"""query($p: ID!, $period: Period!, $t: ID) {{ forecast(pipelineId: $p, period: $period, teamId: $t) {{
  team {{ name }} period {{ key start end }} summary {{ {ROW} }} teams {{ {ROW} }} users {{ {ROW} }} }} }}"""


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    api = Api(client, token_for(admin))
    await api.rate("EUR", "1.40", "2019-01-01")  # superseded
    await api.rate("EUR", "1.50", "2020-01-01")  # in force
    await api.rate("EUR", "2.00", "2099-01-01")  # not yet
    pipeline = await api.pipeline("Forecast")
    other = await api.pipeline("Other")
    sales = await api.team("Sales")
    west = await api.team("West", sales)
    coast = await api.team("Coast", west)
    w: dict[str, Any] = {
        "api": api,
        "pipeline": pipeline,
        "sales": sales,
        "west": west,
        "coast": coast,
        "admin": admin,
    }
    w["mona"] = await api.user("Mona Manager", "mona@example.com", roles=["sales_manager"])
    w["ravi"] = await api.user("Ravi Rep", "ravi@example.com", roles=["sales_rep"])
    w["sara"] = await api.user("Sara Rep", "sara@example.com", roles=["sales_rep"])
    w["tom"] = await api.user("Tom Rep", "tom@example.com", roles=["sales_rep"])
    w["nils"] = await api.user("Nils Noseat", "nils@example.com", seat=False, roles=["sales_rep"])
    await api.member(west, w["mona"], role="MANAGER")
    await api.member(coast, w["ravi"])
    await api.member(west, w["sara"])
    await api.member(coast, w["sara"], primary=False)
    await api.member(sales, w["tom"])
    await api.member(coast, w["nils"])
    deal = api.deal
    await deal(pipeline, "Qualified to buy", "1000.00", "2030-04-10", name="R1", ownerId=w["ravi"])
    await deal(
        pipeline, "Contract sent", "200.00", "2030-05-10", name="R2", ownerId=w["ravi"], currency="EUR"
    )
    await deal(pipeline, "Closed won", "500.00", "2030-06-10", name="R3", ownerId=w["ravi"])
    await deal(pipeline, "Closed lost", "700.00", "2030-06-11", name="R4", ownerId=w["ravi"])
    await deal(pipeline, "Presentation scheduled", "2000.00", "2030-04-01", name="S1", ownerId=w["sara"],
               forecastCategory="COMMIT", probability=0.5)  # fmt: skip
    await deal(pipeline, "Closed won", "1000.00", "2030-06-30", name="S2", ownerId=w["sara"], currency="EUR")
    await deal(pipeline, "Decision maker bought-in", "800.00", "2030-05-05", name="M1", ownerId=w["mona"])
    await deal(pipeline, "Appointment scheduled", "100.00", "2030-05-06", name="T1", ownerId=w["tom"])
    await deal(pipeline, "Closed won", "999.00", "2030-05-07", name="N1", ownerId=w["nils"])
    await deal(pipeline, "Closed won", "5000.00", "2030-05-08", name="U1")
    await deal(pipeline, "Closed won", "4444.00", "2030-07-15", name="R5", ownerId=w["ravi"])
    await deal(other, "Closed won", "3333.00", "2030-05-15", name="R6", ownerId=w["ravi"])
    # The ended quarter, for accuracy.
    for who, amount in (("ravi", "1000.00"), ("sara", "1000.00"), ("tom", "1000.00")):
        await deal(pipeline, "Closed won", amount, "2025-02-10", name=f"Past {who}", ownerId=w[who])
    set_goal = "mutation($i: SetGoalInput!) { setGoal(input: $i) { id amount } }"
    for key, amount in (("ravi", "1500.00"), ("ravi", "2000.00"), ("sara", "4000.00"), ("mona", "1000.00")):
        await api.run(
            set_goal,
            i={"subject": {"userId": w[key]}, "pipelineId": pipeline["id"], "period": P, "amount": amount},
        )
    await api.run(
        set_goal,
        i={"subject": {"teamId": west}, "pipelineId": pipeline["id"], "period": P, "amount": "8000.00"},
    )
    submit = "mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id amount } }"
    for key, amount, period in (("ravi", "1200.00", P), ("ravi", "1300.00", P), ("sara", "3000.00", P),
                                ("ravi", "800.00", "2025-Q1"), ("sara", "1500.00", "2025-Q1"), ("tom", "5000.00", "2025-Q1")):  # fmt: skip
        await api.run(
            submit,
            i={
                "subject": {"userId": w[key]},
                "pipelineId": pipeline["id"],
                "period": period,
                "amount": amount,
                "note": f"by admin for {key}",
            },
        )
    await api.run(
        submit,
        i={"subject": {"teamId": west}, "pipelineId": pipeline["id"], "period": P, "amount": "5000.00"},
    )
    return w


def cats(
    nf: str, pipe: str, best: str, commit: str, won: str, counts: tuple[int, ...]
) -> list[dict[str, Any]]:
    names = ("NOT_FORECASTED", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED_WON")
    return [
        {"category": c, "amount": a, "count": n}
        for c, a, n in zip(names, (nf, pipe, best, commit, won), counts, strict=True)
    ]


def row(name: str, **numbers: Any) -> dict[str, Any]:
    base = {"goal": None, "gap": None, "goalAttainment": None, "pipelineCoverage": None, "totalCoverage": None,
            "submission": None, "submissionsTotal": None, "accuracy": None, "restricted": False}  # fmt: skip
    return {"subject": {"name": name}} | base | numbers


RAVI = row("Ravi Rep", goal="2000.00", closedWon="500.00", gap="1500.00", goalAttainment=0.25, pipelineValue="1300.00",
           pipelineCoverage=0.65, categories=cats("0.00", "400.00", "0.00", "270.00", "500.00", (1, 1, 0, 1, 1)),
           total="1170.00", totalCoverage=0.585, weightedPipeline="1170.00", dealCount=4,
           submission={"amount": "1300.00", "note": "by admin for ravi"})  # fmt: skip
SARA = row("Sara Rep", goal="4000.00", closedWon="1500.00", gap="2500.00", goalAttainment=0.375, pipelineValue="2000.00",
           pipelineCoverage=0.5, categories=cats("0.00", "0.00", "0.00", "1000.00", "1500.00", (0, 0, 0, 1, 1)),
           total="2500.00", totalCoverage=0.625, weightedPipeline="2500.00", dealCount=2,
           submission={"amount": "3000.00", "note": "by admin for sara"})  # fmt: skip
MONA = row("Mona Manager", goal="1000.00", closedWon="0.00", gap="1000.00", goalAttainment=0.0, pipelineValue="800.00",
           pipelineCoverage=0.8, categories=cats("0.00", "0.00", "640.00", "0.00", "0.00", (0, 0, 1, 0, 0)),
           total="640.00", totalCoverage=0.64, weightedPipeline="640.00", dealCount=1)  # fmt: skip
TOM = row("Tom Rep", closedWon="0.00", pipelineValue="100.00", categories=cats("0.00", "20.00", "0.00", "0.00", "0.00", (0, 1, 0, 0, 0)),
          total="20.00", weightedPipeline="20.00", dealCount=1)  # fmt: skip
COAST = RAVI | {"subject": {"name": "Coast"}, "submission": None, "submissionsTotal": "1300.00"}
WEST = row("West", goal="8000.00", closedWon="2000.00", gap="6000.00", goalAttainment=0.25, pipelineValue="4100.00",
           pipelineCoverage=0.5125, categories=cats("0.00", "400.00", "640.00", "1270.00", "2000.00", (1, 1, 1, 2, 2)),
           total="4310.00", totalCoverage=0.53875, weightedPipeline="4310.00", dealCount=7,
           submission={"amount": "5000.00", "note": None}, submissionsTotal="4300.00")  # fmt: skip
SALES = row("Sales", goal="7000.00", closedWon="2000.00", gap="5000.00", goalAttainment=2000 / 7000, pipelineValue="4200.00",
            pipelineCoverage=0.6, categories=cats("0.00", "420.00", "640.00", "1270.00", "2000.00", (1, 2, 1, 2, 2)),
            total="4330.00", totalCoverage=4330 / 7000, weightedPipeline="4330.00", dealCount=8, submissionsTotal="4300.00")  # fmt: skip


def restricted(expected: dict[str, Any]) -> dict[str, Any]:
    hidden = (
        "goal",
        "gap",
        "goalAttainment",
        "pipelineCoverage",
        "totalCoverage",
        "submission",
        "submissionsTotal",
        "accuracy",
    )
    return expected | dict.fromkeys(hidden) | {"restricted": True}


def approx(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value)
    if isinstance(value, dict):
        return {k: approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx(v) for v in value]
    return value


async def _table(
    world: dict[str, Any], token: str, team: str | None = None, period: str = P
) -> dict[str, Any]:
    result = await data(
        world["api"].client, TABLE, {"p": world["pipeline"]["id"], "period": period, "t": team}, token=token
    )
    return dict(result["forecast"])


async def test_the_company_table_for_an_admin(world: dict[str, Any]) -> None:
    table = await _table(world, token_for(world["admin"]))
    assert table["team"] is None
    assert table["period"] == {"key": P, "start": "2030-04-01", "end": "2030-06-30"}
    assert table["teams"] == approx([SALES])
    assert table["users"] == approx([MONA, RAVI, SARA, TOM])
    assert table["summary"] == approx(SALES | {"subject": {"name": "Astrid Admin"}})


async def test_a_team_table_for_an_admin_and_for_its_manager(world: dict[str, Any]) -> None:
    for token in (token_for(world["admin"]), token_of(world["mona"])):
        table = await _table(world, token, world["west"])
        assert table["team"] == {"name": "West"}
        assert table["summary"] == approx(WEST)
        assert table["teams"] == approx([COAST])
        assert table["users"] == approx([MONA, RAVI, SARA])
    # Without teamId, the manager's table is her team's.
    assert (await _table(world, token_of(world["mona"])))["summary"] == approx(WEST)


async def test_the_team_only_view_of_a_rep(world: dict[str, Any]) -> None:
    table = await _table(world, token_of(world["ravi"]))
    assert table["team"] == {"name": "Coast"}
    assert table["summary"] == approx(restricted(COAST))
    assert table["teams"] == []
    assert table["users"] == approx([RAVI])  # his own row is open to him
    api: Api = world["api"]
    query = (
        'query($u: ID!, $p: ID!) { node(id: $u) { ... on User { forecast(pipelineId: $p, period: "2030-Q2") { '
        + ROW
        + " } } } }"
    )
    sara = await data(
        api.client, query, {"u": world["sara"], "p": world["pipeline"]["id"]}, token=token_of(world["ravi"])
    )
    assert sara["node"]["forecast"] == approx(restricted(SARA))
    mona = await data(
        api.client, query, {"u": world["mona"], "p": world["pipeline"]["id"]}, token=token_of(world["ravi"])
    )
    assert mona["node"]["forecast"] is None
    for team in (world["west"], world["sales"]):
        code, _ = await error_code(
            api.client,
            TABLE,
            {"p": world["pipeline"]["id"], "period": P, "t": team},
            token=token_of(world["ravi"]),
        )
        assert code == "NOT_FOUND"


async def test_rows_of_teams_and_users_through_the_graph(world: dict[str, Any]) -> None:
    api: Api = world["api"]
    query = (
        'query($t: ID!, $p: ID!) { node(id: $t) { ... on Team { forecast(pipelineId: $p, period: "2030-Q2") { '
        + ROW
        + ' } members(includeDescendants: true) { edges { node { forecast(pipelineId: $p, period: "2030-Q2") { '
        + ROW
        + " } } } } } } }"
    )
    result = await data(
        api.client,
        query,
        {"t": world["sales"], "p": world["pipeline"]["id"]},
        token=token_for(world["admin"]),
    )
    assert result["node"]["forecast"] == approx(SALES)
    rows = [e["node"]["forecast"] for e in result["node"]["members"]["edges"]]
    assert rows == approx([MONA, None, RAVI, SARA, TOM])  # Nils has no sales seat, so no row


RAW = {
    "ravi": {"categories": cats("700.00", "1000.00", "0.00", "300.00", "500.00", (1, 1, 0, 1, 1)), "total": "1800.00",
             "totalCoverage": 0.9},
    "west": {"categories": cats("700.00", "1000.00", "800.00", "2300.00", "2000.00", (1, 1, 1, 2, 2)), "total": "6100.00",
             "totalCoverage": 0.7625},
}  # fmt: skip


async def test_raw_amounts_change_the_numbers_and_nothing_else(world: dict[str, Any]) -> None:
    api: Api = world["api"]
    settings = "mutation($i: PipelineSettingsInput!) { updatePipelineSettings(input: $i) { forecastAmount } }"
    await api.run(settings, i={"pipelineId": world["pipeline"]["id"], "forecastAmount": "RAW"})
    try:
        admin = await _table(world, token_for(world["admin"]), world["west"])
        manager = await _table(world, token_of(world["mona"]), world["west"])
        rep = await _table(world, token_of(world["ravi"]))
    finally:
        await api.run(settings, i={"pipelineId": world["pipeline"]["id"], "forecastAmount": "WEIGHTED"})
    for table in (admin, manager):
        assert table["users"][1] == approx(RAVI | RAW["ravi"])
        assert table["summary"] == approx(WEST | RAW["west"])
    raw_coast = COAST | RAW["ravi"]
    assert rep["summary"] == approx(restricted(raw_coast))
    assert rep["users"] == approx([RAVI | RAW["ravi"]])
    assert (await _table(world, token_for(world["admin"]), world["west"]))["summary"] == approx(WEST)


async def test_accuracy_of_an_ended_period(world: dict[str, Any]) -> None:
    table = await _table(world, token_for(world["admin"]), period="2025-Q1")
    accuracy = {r["subject"]["name"]: r["accuracy"] for r in table["users"]}
    assert accuracy == approx({"Mona Manager": None, "Ravi Rep": 0.8, "Sara Rep": 0.5, "Tom Rep": 0.0})


async def test_goals_are_versioned_and_teams_show_their_members_sum(
    world: dict[str, Any], engine: AsyncEngine
) -> None:
    api: Api = world["api"]
    query = """query($u: ID!, $c: ID!, $w: ID!, $s: ID!, $p: ID!) {
      u: node(id: $u) { ... on User { goals(pipelineId: $p) { id amount period { key } setBy { name } subject { ... on User { name } } } } }
      c: node(id: $c) { ... on Team { goals(pipelineId: $p, from: "2030-Q1", to: "2030-Q3") { id amount setBy { name } } } }
      w: node(id: $w) { ... on Team { goals(pipelineId: $p) { amount setBy { name } } } }
      s: node(id: $s) { ... on Team { goals(pipelineId: $p, from: "2030-Q3") { amount } } } }"""
    ids = {
        "u": world["ravi"],
        "c": world["coast"],
        "w": world["west"],
        "s": world["sales"],
        "p": world["pipeline"]["id"],
    }
    result = await data(api.client, query, ids, token=token_for(world["admin"]))
    [ravi] = result["u"]["goals"]
    assert (ravi["amount"], ravi["period"], ravi["setBy"], ravi["subject"]) == (
        "2000.00",
        {"key": P},
        {"name": "Astrid Admin"},
        {"name": "Ravi Rep"},
    )
    [coast] = result["c"]["goals"]
    assert (coast["amount"], coast["setBy"]) == ("2000.00", None)
    assert result["w"]["goals"] == [{"amount": "8000.00", "setBy": {"name": "Astrid Admin"}}]
    assert result["s"]["goals"] == []
    node = await data(
        api.client,
        "query($id: ID!) { node(id: $id) { ... on Goal { amount } } }",
        {"id": coast["id"]},
        token=token_for(world["admin"]),
    )
    assert node["node"] is None  # a sum is not a stored goal
    stored = await data(
        api.client,
        "query($id: ID!) { node(id: $id) { ... on Goal { amount } } }",
        {"id": ravi["id"]},
        token=token_for(world["admin"]),
    )
    assert stored["node"] == {"amount": "2000.00"}
    async with engine.connect() as conn:
        assert (
            await conn.scalar(select(func.count()).select_from(goals).where(goals.c.amount == 1500)) == 1
        )  # kept in history


async def test_switching_the_period_kind_loses_nothing(world: dict[str, Any]) -> None:
    api: Api = world["api"]
    settings = "mutation($i: PipelineSettingsInput!) { updatePipelineSettings(input: $i) { periodKind } }"
    goals_query = (
        "query($u: ID!, $p: ID!) { node(id: $u) { ... on User { goals(pipelineId: $p) { amount } } } }"
    )
    ids = {"u": world["ravi"], "p": world["pipeline"]["id"]}
    await api.run(settings, i={"pipelineId": world["pipeline"]["id"], "periodKind": "MONTH"})
    try:
        assert (await api.run(goals_query, **ids))["node"]["goals"] == []
        code, message = await error_code(
            api.client, TABLE, {"p": world["pipeline"]["id"], "period": P}, token=api.token
        )
        assert (code, "forecasts by MONTH; give a period such as 2026-11" in message) == (
            "BAD_USER_INPUT",
            True,
        )
        monthly = await _table(world, api.token, period="2030-04")
        assert monthly["summary"]["goal"] is None
    finally:
        await api.run(settings, i={"pipelineId": world["pipeline"]["id"], "periodKind": "QUARTER"})
    assert (await api.run(goals_query, **ids))["node"]["goals"] == [{"amount": "2000.00"}]
    assert (await _table(world, api.token, world["west"]))["summary"] == approx(WEST)


async def test_submission_history_newest_first(world: dict[str, Any]) -> None:
    api: Api = world["api"]
    query = """query($u: ID!, $p: ID!) { forecastSubmissions(subject: {userId: $u}, pipelineId: $p, period: "2030-Q2") {
      totalCount edges { node { amount submittedBy { name } subject { ... on User { name } } period { key } } } } }"""
    variables = {"u": world["ravi"], "p": world["pipeline"]["id"]}
    result = await data(api.client, query, variables, token=token_for(world["admin"]))
    assert result["forecastSubmissions"]["totalCount"] == 2
    assert [e["node"]["amount"] for e in result["forecastSubmissions"]["edges"]] == ["1300.00", "1200.00"]
    every = await data(
        api.client,
        "query($u: ID!, $p: ID!) { node(id: $u) { ... on User { submissions(pipelineId: $p) { totalCount } } } }",
        variables,
        token=token_of(world["ravi"]),
    )
    assert every["node"]["submissions"]["totalCount"] == 3  # 2030-Q2 twice and 2025-Q1
    hidden = await data(
        api.client, query, variables, token=token_of(world["sara"])
    )  # a teammate, not a manager
    assert hidden["forecastSubmissions"]["edges"] == []
    code, _ = await error_code(
        api.client, query, {"u": world["mona"], "p": world["pipeline"]["id"]}, token=token_of(world["ravi"])
    )
    assert code == "NOT_FOUND"


SUBMIT = (
    "mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id amount note submittedBy { name } } }"
)
SET_GOAL = "mutation($i: SetGoalInput!) { setGoal(input: $i) { amount } }"


@pytest.mark.parametrize(
    ("viewer", "operation", "subject", "outcome"),
    [
        ("ravi", SUBMIT, ("userId", "ravi"), "ok"),
        ("ravi", SUBMIT, ("userId", "sara"), "FORBIDDEN"),
        ("ravi", SUBMIT, ("teamId", "coast"), "FORBIDDEN"),
        ("mona", SUBMIT, ("userId", "mona"), "ok"),
        ("mona", SUBMIT, ("userId", "ravi"), "ok"),
        ("mona", SUBMIT, ("teamId", "coast"), "ok"),
        ("mona", SUBMIT, ("userId", "tom"), "FORBIDDEN"),
        ("mona", SUBMIT, ("teamId", "sales"), "FORBIDDEN"),
        ("mona", SET_GOAL, ("userId", "sara"), "ok"),
        ("mona", SET_GOAL, ("teamId", "coast"), "ok"),
        ("mona", SET_GOAL, ("userId", "mona"), "FORBIDDEN"),
        ("mona", SET_GOAL, ("userId", "tom"), "FORBIDDEN"),
        ("ravi", SET_GOAL, ("userId", "ravi"), "FORBIDDEN"),
    ],
)
async def test_who_may_submit_and_set_goals(
    world: dict[str, Any],
    engine: AsyncEngine,
    viewer: str,
    operation: str,
    subject: tuple[str, str],
    outcome: str,
) -> None:
    api: Api = world["api"]
    variables = {
        "i": {
            "subject": {subject[0]: world[subject[1]]},
            "pipelineId": world["pipeline"]["id"],
            "period": "2031-Q1",
            "amount": "10.00",
        }
    }
    before = await _rows(engine)
    response = await api.client.post(
        "/graphql",
        json={"query": operation, "variables": variables},
        headers={"Authorization": f"Bearer {token_of(world[viewer])}"},
    )
    body = response.json()
    if outcome == "ok":
        assert "errors" not in body, body
    else:
        assert body["errors"][0]["extensions"]["code"] == outcome
        assert await _rows(engine) == before


async def _rows(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        return (
            int(await conn.scalar(select(func.count()).select_from(goals)) or 0),
            int(await conn.scalar(select(func.count()).select_from(forecast_submissions)) or 0),
        )


async def test_a_retried_submission_is_stored_once(world: dict[str, Any], engine: AsyncEngine) -> None:
    api: Api = world["api"]
    ravi = token_of(world["ravi"])
    payload = {
        "subject": {"userId": world["ravi"]},
        "pipelineId": world["pipeline"]["id"],
        "period": "2031-Q2",
        "amount": "99.00",
        "idempotencyKey": "phone-42",
    }
    first = await data(api.client, SUBMIT, {"i": payload}, token=ravi)
    before = await _rows(engine)
    again = await data(api.client, SUBMIT, {"i": payload}, token=ravi)
    assert again == first
    assert await _rows(engine) == before
    code, message = await error_code(api.client, SUBMIT, {"i": payload | {"amount": "98.00"}}, token=ravi)
    assert (code, message) == ("CONFLICT", "that idempotencyKey was already used for a different submission")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": "-1.00"}, "is negative"),
        ({"amount": "1.234"}, "has more than 2 decimals"),
        ({"amount": "NaN"}, "is not a finite number"),
        ({"period": "2031-05"}, "forecasts by QUARTER; give a period such as 2026-Q4"),
        ({"period": "2031-Q7"}, "quarter must be Q1–Q4"),
        ({"note": "x" * 2001}, "at most 2000 are accepted"),
        ({"subject": {}}, "give exactly one of userId and teamId"),
        ({"subject": {"userId": "VXNlcjox", "teamId": "VGVhbTox"}}, "give exactly one of userId and teamId"),
        ({"idempotencyKey": ""}, "idempotencyKey must be 1–200 characters"),
        ({"pipelineId": "UGlwZWxpbmU6OTk5OTk="}, "no Pipeline with id"),
    ],
)
async def test_bad_submissions_are_refused(
    world: dict[str, Any], engine: AsyncEngine, change: dict[str, Any], message: str
) -> None:
    api: Api = world["api"]
    payload = {
        "subject": {"userId": world["ravi"]},
        "pipelineId": world["pipeline"]["id"],
        "period": "2031-Q1",
        "amount": "10.00",
    } | change
    before = await _rows(engine)
    _, text = await error_code(api.client, SUBMIT, {"i": payload}, token=api.token)
    assert message in text
    assert await _rows(engine) == before


async def test_forecast_needs_forecast_view(world: dict[str, Any]) -> None:
    nils = token_of(world["nils"])
    api: Api = world["api"]
    await api.run(
        'mutation($s: String!) { setPermission(input: {subject: $s, resource: "forecast", action: "view", scope: NONE}) { scope } }',
        s="sales_rep",
    )
    try:
        code, _ = await error_code(api.client, TABLE, {"p": world["pipeline"]["id"], "period": P}, token=nils)
        assert code == "FORBIDDEN"
    finally:
        await api.run(
            'mutation($s: String!) { setPermission(input: {subject: $s, resource: "forecast", action: "view", scope: TEAM}) { scope } }',
            s="sales_rep",
        )


async def test_the_everyday_requests_need_no_pipeline_or_period(world: dict[str, Any]) -> None:
    """Without pipelineId the company's first pipeline, without period its current one; the row says
    which. The same numbers as asked for explicitly."""
    from db.periods import period_containing  # noqa: PLC0415

    current = period_containing(date.today(), "QUARTER").key
    ravi = token_of(world["ravi"])
    client = world["api"].client
    implicit = await data(client, "{ viewer { forecast { pipeline { name } period { key } total closedWon } } }",
                          token=ravi)  # fmt: skip
    assert implicit["viewer"]["forecast"]["pipeline"]["name"] == "Forecast"
    assert implicit["viewer"]["forecast"]["period"]["key"] == current
    explicit = await data(
        client,
        "query($p: ID!, $k: Period!) { viewer { forecast(pipelineId: $p, period: $k) { pipeline { name } "
        "period { key } total closedWon } } }",
        {"p": world["pipeline"]["id"], "k": current},
        token=ravi,
    )
    assert implicit == explicit
    table = await data(
        client, "{ forecast { period { key } summary { total } } }", token=token_for(world["admin"])
    )
    assert table["forecast"]["period"]["key"] == current


async def test_a_submission_without_subject_is_the_viewers(world: dict[str, Any]) -> None:
    tom = token_of(world["tom"])
    submitted = await data(
        world["api"].client,
        "mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { amount subject { ... on User { id } } } }",
        {"i": {"pipelineId": world["pipeline"]["id"], "period": "2030-Q3", "amount": "42.00"}},
        token=tom,
    )
    assert submitted["submitForecast"] == {"amount": "42.00", "subject": {"id": world["tom"]}}


async def test_the_audit_log_speaks_the_apis_terms(world: dict[str, Any]) -> None:
    """Targets and details name objects by global ID, fields as the API spells them, money with cents."""
    api: Api = world["api"]
    await api.run(
        "mutation($i: SetGoalInput!) { setGoal(input: $i) { amount } }",
        i={"subject": {"userId": world["tom"]}, "pipelineId": world["pipeline"]["id"], "period": "2030-Q3",
           "amount": "120000"},
    )  # fmt: skip
    log = await api.run("{ auditLog(first: 1) { edges { node { action target details } } } }")
    [entry] = [edge["node"] for edge in log["auditLog"]["edges"]]
    assert entry["action"] == "goal.set"
    assert entry["target"] == f"user:{world['tom']}"
    assert json.loads(entry["details"]) == {
        "after": "120000.00",
        "before": None,
        "period": "2030-Q3",
        "pipeline": world["pipeline"]["id"],
    }
