"""Manager adjustments and the forecast call (docs/domain.md §7), against numbers worked out by hand.

Sales ⊃ East ⊃ Enterprise, and Sales ⊃ West. Vera heads Sales, Erik East, Nina Enterprise, Walt West (all
sales managers, each with that team as primary). Ana and Tom are reps in East, Ella in Enterprise, Wes in
West; Solo is a rep without a team. Pipeline "Calls" by quarter, RAW amounts; period 2030-Q2.

Totals (Σ PIPELINE, BEST_CASE, COMMIT, CLOSED_WON):
  Ana  won 100 + Contract sent (COMMIT) 50 = 150     Tom  Presentation (BEST_CASE) 80
  Erik Contract sent 30                              Ella won 200
  Wes  won 70                                        Solo won 10          Vera, Nina, Walt: 0
Submissions: Ana 300, Ella 250, the Enterprise team 260 (Nina's number for the team she heads).
Adjustments: Erik → Ana 240 ("Ana says 300, I call 240"), Erik → Enterprise 230, Vera → East 600.

The calls, per viewer (an adjustment is seen by those who may make it and by forecast:view ALL):
  admin, Vera  Ana 240, Tom 80, Erik 30, Ella 250, Nina 0, Enterprise 230, East 600,
               West 0 + 70 = 70, Sales 600 + 70 + Vera 0 = 670; the company 670 + Solo 10 = 680 (admin)
  Erik         East's 600 is hidden (he heads East): East = Enterprise 230 + Ana 240 + Tom 80 + Erik 30 = 580
  Nina         Enterprise's 230 is hidden (she heads it): Enterprise = her submission 260
  Ana          her own row: her submission 300 (Erik's 240 is hidden from her); her teammates' rows and
               East are restricted: no call
  Tom          his own row 80; Ana's is restricted
  Walt         West 70; East is outside his reach (NOT_FOUND)
"""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import to_base64

from db.tables import audit_log, forecast_adjustments
from tests.builders import Api
from tests.support import data, error_code, token_for, token_of

P = "2030-Q2"
ADJUST = """mutation($i: AdjustForecastInput!) { adjustForecast(input: $i) { id amount note
  adjustedBy { name } subject { ... on User { name } ... on Team { name } } period { key } } }"""
ROW = "subject { ... on User { name } ... on Team { name } } call adjustment { amount } restricted"
TABLE = f"""query($p: ID!, $period: Period!, $t: ID) {{ forecast(pipelineId: $p, period: $period, teamId: $t) {{
  summary {{ {ROW} }} teams {{ {ROW} }} users {{ {ROW} }} }} }}"""
LIST = """query($s: SubjectInput!, $p: ID!, $period: Period) { forecastAdjustments(subject: $s, pipelineId: $p,
  period: $period) { totalCount edges { node { id amount note adjustedBy { name } } } } }"""

PEOPLE = {
    # key: (name, role, primary team or None, membership role)
    "vera": ("Vera VP", "sales_manager", "sales", "MANAGER"),
    "erik": ("Erik East", "sales_manager", "east", "MANAGER"),
    "nina": ("Nina Enterprise", "sales_manager", "enterprise", "MANAGER"),
    "walt": ("Walt West", "sales_manager", "west", "MANAGER"),
    "ana": ("Ana Rep", "sales_rep", "east", "MEMBER"),
    "tom": ("Tom Rep", "sales_rep", "east", "MEMBER"),
    "ella": ("Ella Rep", "sales_rep", "enterprise", "MEMBER"),
    "wes": ("Wes Rep", "sales_rep", "west", "MEMBER"),
    "solo": ("Solo Rep", "sales_rep", None, "MEMBER"),
}


def subject(w: dict[str, Any], key: str) -> dict[str, str]:
    return {"teamId": w[key]} if key in ("sales", "east", "enterprise", "west") else {"userId": w[key]}


def adjustment(
    w: dict[str, Any], key: str, amount: str | None, note: str, period: str = P, **more: Any
) -> Any:
    return {"i": {"subject": subject(w, key), "pipelineId": w["pipeline"]["id"], "period": period,
                  "amount": amount, "note": note} | more}  # fmt: skip


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    api = Api(client, token_for(admin))
    w: dict[str, Any] = {"api": api, "admin": to_base64("User", admin)}
    w["pipeline"] = await api.pipeline("Calls", forecastAmount="RAW")
    w["sales"] = await api.team("Sales")
    w["east"] = await api.team("East", w["sales"])
    w["enterprise"] = await api.team("Enterprise", w["east"])
    w["west"] = await api.team("West", w["sales"])
    for key, (name, role, team, membership) in PEOPLE.items():
        w[key] = await api.user(name, f"{key}@example.com", roles=[role])
        if team is not None:
            await api.member(w[team], w[key], role=membership)
    pipeline = w["pipeline"]
    for owner, stage, amount in (("ana", "Closed won", "100.00"), ("ana", "Contract sent", "50.00"),
                                 ("tom", "Presentation scheduled", "80.00"), ("erik", "Contract sent", "30.00"),
                                 ("ella", "Closed won", "200.00"), ("wes", "Closed won", "70.00"),
                                 ("solo", "Closed won", "10.00")):  # fmt: skip
        await api.deal(pipeline, stage, amount, "2030-05-10", ownerId=w[owner])
    submit = "mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id } }"
    for key, amount in (("ana", "300.00"), ("ella", "250.00"), ("enterprise", "260.00")):
        await api.run(submit, i={"subject": subject(w, key), "pipelineId": pipeline["id"], "period": P,
                                 "amount": amount})  # fmt: skip
    client_ = api.client
    made = {}
    for by, key, amount, note in (("erik", "ana", "240.00", "Ana says 300, I call 240"),
                                  ("erik", "enterprise", "230.00", "one renewal slips"),
                                  ("vera", "east", "600.00", "East will land 600")):  # fmt: skip
        made[key] = (await data(client_, ADJUST, adjustment(w, key, amount, note), token=token_of(w[by])))[
            "adjustForecast"
        ]
    w["made"] = made
    return w


async def _calls(w: dict[str, Any], viewer: str, team: str | None = None) -> dict[str, Any]:
    """A table's rows as {first name: (call, adjustment amount)}; the summary as "Σ"."""
    found = await data(w["api"].client, TABLE, {"p": w["pipeline"]["id"], "period": P, "t": team and w[team]},
                       token=token_of(w[viewer]))  # fmt: skip
    table = found["forecast"]

    def entry(row: dict[str, Any]) -> tuple[Any, Any]:
        assert not row["restricted"] or row["call"] is None
        return row["call"], (row["adjustment"] or {}).get("amount")

    rows = {r["subject"]["name"].split()[0]: entry(r) for r in table["teams"] + table["users"]}
    return rows | {"Σ": entry(table["summary"])}


async def test_the_call_for_each_viewer(world: dict[str, Any]) -> None:
    everything = {
        "Σ": ("670.00", None), "East": ("600.00", "600.00"), "West": ("70.00", None),
        "Ana": ("240.00", "240.00"), "Tom": ("80.00", None), "Erik": ("30.00", None), "Ella": ("250.00", None),
        "Nina": ("0.00", None), "Vera": ("0.00", None), "Walt": ("0.00", None), "Wes": ("70.00", None),
    }  # fmt: skip
    assert await _calls(world, "vera") == everything  # her default table: Sales, the team she heads
    assert await _calls(world, "admin", "sales") == everything
    company = await _calls(world, "admin")
    assert company["Σ"] == ("680.00", None)
    assert (company["Sales"], company["Solo"]) == (("670.00", None), ("10.00", None))

    east = {"Enterprise": ("230.00", "230.00"), "Ana": ("240.00", "240.00"), "Tom": ("80.00", None),
            "Erik": ("30.00", None), "Ella": ("250.00", None), "Nina": ("0.00", None)}  # fmt: skip
    assert await _calls(world, "admin", "east") == east | {"Σ": ("600.00", "600.00")}
    assert await _calls(world, "erik") == east | {"Σ": ("580.00", None)}  # Vera's 600 hidden from him
    assert await _calls(world, "nina") == {
        "Σ": ("260.00", None),
        "Ella": ("250.00", None),
        "Nina": ("0.00", None),
    }
    restricted = dict.fromkeys(["Σ", "Enterprise", "Ana", "Tom", "Erik", "Ella", "Nina"], (None, None))
    assert await _calls(world, "ana") == restricted | {"Ana": ("300.00", None)}
    assert await _calls(world, "tom") == restricted | {"Tom": ("80.00", None)}
    assert await _calls(world, "walt") == {
        "Σ": ("70.00", None),
        "Walt": ("0.00", None),
        "Wes": ("70.00", None),
    }
    code, _ = await error_code(world["api"].client, TABLE, {"p": world["pipeline"]["id"], "period": P,
                               "t": world["east"]}, token=token_of(world["walt"]))  # fmt: skip
    assert code == "NOT_FOUND"


async def test_user_and_team_rows_carry_the_same_calls(world: dict[str, Any]) -> None:
    """User.forecast and Team.forecast, batched in one request, give the table's calls."""
    fields = "forecast(pipelineId: $p, period: $period) { call adjustment { amount note } }"
    one = f"node(id: $%s) {{ ... on User {{ name {fields} }} ... on Team {{ name {fields} }} }}"
    keys = ["east", "enterprise", "ana", "tom"]
    declared = ", ".join(f"${k}: ID!" for k in keys)
    asked = " ".join(f"{k}: " + one % k for k in keys)
    query = f"query($p: ID!, $period: Period!, {declared}) {{ {asked} }}"
    w = world

    async def rows(viewer: str) -> list[Any]:
        variables = {"p": w["pipeline"]["id"], "period": P} | {k: w[k] for k in keys}
        found = await data(w["api"].client, query, variables, token=token_of(w[viewer]))
        nodes = [found[k] for k in keys]
        return [(n["name"].split()[0], n["forecast"] and n["forecast"]["call"],
                 n["forecast"] and (n["forecast"]["adjustment"] or {}).get("note")) for n in nodes]  # fmt: skip

    assert await rows("vera") == [("East", "600.00", "East will land 600"),
                                  ("Enterprise", "230.00", "one renewal slips"),
                                  ("Ana", "240.00", "Ana says 300, I call 240"), ("Tom", "80.00", None)]  # fmt: skip
    assert await rows("erik") == [("East", "580.00", None), ("Enterprise", "230.00", "one renewal slips"),
                                  ("Ana", "240.00", "Ana says 300, I call 240"), ("Tom", "80.00", None)]  # fmt: skip
    assert await rows("ana") == [("East", None, None), ("Enterprise", None, None), ("Ana", "300.00", None),
                                 ("Tom", None, None)]  # fmt: skip


async def test_who_may_adjust_whom_and_refusals_leave_nothing(
    world: dict[str, Any], engine: AsyncEngine
) -> None:
    w = world
    allowed = {
        "admin": {"ana", "east", "sales", "solo"},
        "vera": {"east", "enterprise", "west", "ana", "wes", "erik"},
        "erik": {"ana", "tom", "ella", "nina", "enterprise"},
        "nina": {"ella"},
        "walt": {"wes"},
        "ana": set(),
        "tom": set(),
    }
    tried = {
        "admin": ["ana", "east", "sales", "solo", "admin"],
        "vera": ["east", "enterprise", "west", "ana", "wes", "erik", "sales", "vera", "solo"],
        "erik": ["ana", "tom", "ella", "nina", "enterprise", "east", "sales", "west", "wes", "vera", "erik"],
        "nina": ["ella", "enterprise", "east", "ana", "nina"],
        "walt": ["wes", "west", "ana", "east", "walt"],
        "ana": ["tom", "ana", "east"],
        "tom": ["ana"],
    }
    period = "2030-Q3"
    before = await _counts(engine)
    outcomes: dict[tuple[str, str], str] = {}
    for viewer, subjects in tried.items():
        for key in subjects:
            variables = adjustment(w, key, "1.00", f"{viewer} on {key}", period)
            if key in allowed[viewer]:
                made = await data(w["api"].client, ADJUST, variables, token=token_of(w[viewer]))
                outcomes[(viewer, key)] = made["adjustForecast"]["amount"]
            else:
                code, message = await error_code(
                    w["api"].client, ADJUST, variables, token=token_of(w[viewer])
                )
                outcomes[(viewer, key)] = code
                assert ("own forecast" in message) == (viewer == key), message
    expected = {(v, k): "1.00" if k in allowed[v] else "FORBIDDEN" for v, ks in tried.items() for k in ks}
    assert outcomes == expected
    made = sum(len(a) for a in allowed.values())
    assert await _counts(engine) == (before[0] + made, before[1] + made)


async def _counts(engine: AsyncEngine) -> tuple[int, int]:
    """(adjustments stored, forecast.adjust audit entries)."""
    async with engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(forecast_adjustments))
        audited = await conn.scalar(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == "forecast.adjust")
        )
    return int(stored or 0), int(audited or 0)


async def test_who_sees_adjustments(world: dict[str, Any]) -> None:
    w = world
    client = w["api"].client

    async def listed(viewer: str, key: str) -> Any:
        variables = {"s": subject(w, key), "p": w["pipeline"]["id"], "period": P}
        found = await data(client, LIST, variables, token=token_of(w[viewer]))
        return [
            (e["node"]["amount"], e["node"]["adjustedBy"]["name"])
            for e in found["forecastAdjustments"]["edges"]
        ]

    assert await listed("erik", "ana") == [("240.00", "Erik East")]
    assert await listed("vera", "ana") == [("240.00", "Erik East")]
    assert await listed("admin", "east") == [("600.00", "Vera VP")]
    assert await listed("vera", "east") == [("600.00", "Vera VP")]
    for viewer, key in (("ana", "ana"), ("tom", "ana"), ("erik", "east"), ("nina", "enterprise")):
        assert await listed(viewer, key) == [], (viewer, key)  # they see the forecast, not its adjustment
    variables = {"s": subject(w, "ana"), "p": w["pipeline"]["id"], "period": P}
    assert (await error_code(client, LIST, variables, token=token_of(w["walt"])))[0] == "NOT_FOUND"

    node = "query($id: ID!) { node(id: $id) { ... on ForecastAdjustment { amount note } } }"
    enterprise = w["made"]["enterprise"]["id"]
    for viewer, seen in (("admin", True), ("vera", True), ("erik", True), ("nina", False), ("ella", False)):
        found = await data(client, node, {"id": enterprise}, token=token_of(w[viewer]))
        assert (found["node"] is not None) == seen, viewer


async def test_clearing_an_adjustment(world: dict[str, Any]) -> None:
    """An entry without an amount clears the adjustment: the call falls back, the history keeps both."""
    w = world
    client, period = w["api"].client, "2030-Q4"
    erik, tom = token_of(w["erik"]), token_of(w["tom"])
    row = """query($id: ID!, $p: ID!, $period: Period!) { node(id: $id) { ... on User {
      forecast(pipelineId: $p, period: $period) { call total adjustment { amount } } } } }"""
    variables = {"id": w["tom"], "p": w["pipeline"]["id"], "period": period}

    async def seen(token: str) -> Any:
        return (await data(client, row, variables, token=token))["node"]["forecast"]

    await data(client, ADJUST, adjustment(w, "tom", "90.00", "a late deal", period), token=erik)
    assert await seen(erik) == {"call": "90.00", "total": "0.00", "adjustment": {"amount": "90.00"}}
    assert await seen(tom) == {"call": "0.00", "total": "0.00", "adjustment": None}
    cleared = await data(
        client, ADJUST, adjustment(w, "tom", None, "back to the pipeline", period), token=erik
    )
    assert cleared["adjustForecast"]["amount"] is None
    assert await seen(erik) == {"call": "0.00", "total": "0.00", "adjustment": None}
    history = await data(client, LIST, {"s": subject(w, "tom"), "p": w["pipeline"]["id"], "period": period},
                         token=erik)  # fmt: skip
    assert [(e["node"]["amount"], e["node"]["note"]) for e in history["forecastAdjustments"]["edges"]] == [
        (None, "back to the pipeline"),
        ("90.00", "a late deal"),
    ]


async def test_bad_adjustments_are_refused_and_change_nothing(
    world: dict[str, Any], engine: AsyncEngine
) -> None:
    w = world
    client, erik = w["api"].client, token_of(w["erik"])
    before = await _counts(engine)
    cases: list[tuple[dict[str, Any], str, str]] = [
        (adjustment(w, "ana", "1.00", ""), "BAD_USER_INPUT", "note must not be empty"),
        (adjustment(w, "ana", "1.00", "   "), "BAD_USER_INPUT", "note must not be empty"),
        (adjustment(w, "ana", "1.00", "x" * 2001), "BAD_USER_INPUT", "at most 2000"),
        (adjustment(w, "ana", "-1.00", "why"), "BAD_USER_INPUT", "negative"),
        (adjustment(w, "ana", "1.234", "why"), "BAD_USER_INPUT", "more than 2 decimals"),
        (adjustment(w, "ana", "1.00", "why", "2030-05"), "BAD_USER_INPUT", "forecasts by QUARTER"),
        (adjustment(w, "ana", "1.00", "why", idempotencyKey=""), "BAD_USER_INPUT", "idempotencyKey"),
        (adjustment(w, "ana", "1.00", "why", idempotencyKey="k" * 201), "BAD_USER_INPUT", "idempotencyKey"),
        ({"i": adjustment(w, "ana", "1.00", "why")["i"] | {"subject": {"userId": w["ana"], "teamId": w["east"]}}},
         "BAD_USER_INPUT", "exactly one"),
        ({"i": adjustment(w, "ana", "1.00", "why")["i"] | {"subject": {"userId": to_base64("User", 10**9)}}},
         "NOT_FOUND", "no User"),
        ({"i": adjustment(w, "ana", "1.00", "why")["i"] | {"pipelineId": to_base64("Pipeline", 10**9)}},
         "NOT_FOUND", "no Pipeline"),
    ]  # fmt: skip
    for variables, code, message in cases:
        got, text = await error_code(client, ADJUST, variables, token=erik)
        assert (got, message in text) == (code, True), text
    assert await _counts(engine) == before


async def test_a_retried_adjustment_is_stored_once(world: dict[str, Any], engine: AsyncEngine) -> None:
    w = world
    client, erik = w["api"].client, token_of(w["erik"])
    before = await _counts(engine)
    once = adjustment(w, "ella", "120.00", "retried", "2031-Q1", idempotencyKey="adjust-ella-1")
    first = await data(client, ADJUST, once, token=erik)
    again = await data(client, ADJUST, once, token=erik)
    assert first == again
    different = adjustment(w, "ella", "121.00", "retried", "2031-Q1", idempotencyKey="adjust-ella-1")
    assert (await error_code(client, ADJUST, different, token=erik))[0] == "CONFLICT"
    assert await _counts(engine) == (before[0] + 1, before[1] + 1)


async def test_every_adjustment_is_audited(world: dict[str, Any]) -> None:
    log = await world["api"].run(
        "{ auditLog(first: 100) { edges { node { action target details actor { name } } } } }"
    )
    entries = [e["node"] for e in log["auditLog"]["edges"] if e["node"]["target"] == f"user:{world['ana']}"]
    [made] = [e for e in entries if e["action"] == "forecast.adjust" and P in e["details"]]
    assert made["actor"] == {"name": "Erik East"}
    assert json.loads(made["details"]) == {
        "pipeline": world["pipeline"]["id"],
        "period": P,
        "amount": "240.00",
        "note": "Ana says 300, I call 240",
    }
