"""How the forecast moved (docs/domain.md "History"): the trend and the waterfall, through the API.

The scripted scenario: pipeline "History" (RAW amounts, by quarter), the current quarter; team North
(Nora manages; Ana and Ben are reps; Owen is a rep whose role sees only his own deals) and team South
(Sue). Every deal closes in the quarter unless said otherwise, in USD unless said otherwise; before the
moment A they are:

  pull      Ana  Contract sent  100  closes next quarter   → close date moved into the quarter   PULLED_IN   +100
  push      Ana  Contract sent  200                        → close date moved to next quarter   PUSHED_OUT  -200
  won       Ana  Contract sent  300                        → Closed won, amount 350             WON          +50
  lost      Ana  Contract sent  400                        → Closed lost                        LOST        -400
  cat_in    Ana  Appointment    500  category NOT_FORECASTED → category reset (PIPELINE)         CATEGORY_IN +500
  cat_out   Ana  Contract sent  600                        → category NOT_FORECASTED            CATEGORY_OUT -600
  moved_in  Sue  Contract sent  700                        → owner Ana                          REASSIGNED  +700
  up        Ben  Contract sent  800                        → amount 850                         INCREASED    +50
  down      Ben  Contract sent  900                        → amount 880                         DECREASED    -20
  euro      Ben  Contract sent  1000 EUR (1.10; 1.20 from tomorrow)                             RATE        +100
  steady    Owen Contract sent  50                         (unchanged: in both totals, in no step)
  sideways  Ben  Appointment    60 → Qualified to buy (PIPELINE both: moves nothing, in no step)
  south     Sue  Contract sent  70  → amount 75            (South's: nowhere in North's waterfall)
and after A: new (Ana, Contract sent, 1100) → NEW +1100.

North as of A: 200 + 300 + 400 + 600 + 800 + 900 + 1100 (1000 EUR at 1.10) + 50 + 60 = 4410.
As of B (tomorrow): 100 + 350 + 500 + 700 + 850 + 880 + 1200 + 50 + 60 + 1100 = 5790; the steps add up
to 1380.
"""

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from strawberry.relay import to_base64

from db.periods import period_containing
from tests.builders import Api
from tests.support import SECRET, cli_env, data, error_code, pipecast, token_for, token_of

TODAY = date.today()
PERIOD = period_containing(TODAY, "QUARTER")
INSIDE = PERIOD.end(1).isoformat()
OUTSIDE = PERIOD.shifted(1).start(1).isoformat()
UPDATE = """mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id } }"""
CHANGES = """query($s: SubjectInput!, $p: ID!, $period: Period!, $from: DateTime!, $to: DateTime!) {
  forecastChanges(subject: $s, pipelineId: $p, period: $period, from: $from, to: $to) {
    subject { ... on Team { name } ... on User { name } } from to startTotal endTotal
    steps { kind amount dealCount deals { totalCount edges { node { name } } } } } }"""
TREND = """query($s: SubjectInput!, $p: ID!, $period: Period!, $n: Int) {
  forecastTrend(subject: $s, pipelineId: $p, period: $period, points: $n) {
    at total closedWon pipelineValue call } }"""
TABLE = """query($p: ID!, $period: Period!, $t: ID) { forecast(pipelineId: $p, period: $period, teamId: $t) {
  summary { total closedWon pipelineValue call } } }"""

EXPECTED_STEPS = {
    "NEW": ("1100.00", ["new"]),
    "PULLED_IN": ("100.00", ["pull"]),
    "PUSHED_OUT": ("-200.00", ["push"]),
    "WON": ("50.00", ["won"]),
    "LOST": ("-400.00", ["lost"]),
    "CATEGORY_IN": ("500.00", ["cat_in"]),
    "CATEGORY_OUT": ("-600.00", ["cat_out"]),
    "REASSIGNED": ("700.00", ["moved_in"]),
    "INCREASED": ("50.00", ["up"]),
    "DECREASED": ("-20.00", ["down"]),
    "RATE": ("100.00", ["euro"]),
}


def moment(at: datetime) -> str:
    return at.isoformat()


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    api = Api(client, token_for(admin))
    w: dict[str, Any] = {"api": api}
    w["pipeline"] = pipeline = await api.pipeline("History", forecastAmount="RAW")
    w["north"], w["south"] = await api.team("North"), await api.team("South")
    await api.run('mutation { createRole(name: "own_rep") { name } }')
    for resource, scope in (("deal", "OWN"), ("forecast", "TEAM")):
        await api.run(
            "mutation($i: SetPermissionInput!) { setPermission(input: $i) { scope } }",
            i={"subject": "own_rep", "resource": resource, "action": "view", "scope": scope},
        )
    for key, name, role, team, membership in (
        ("nora", "Nora North", "sales_manager", "north", "MANAGER"),
        ("ana", "Ana North", "sales_rep", "north", "MEMBER"),
        ("ben", "Ben North", "sales_rep", "north", "MEMBER"),
        ("owen", "Owen North", "own_rep", "north", "MEMBER"),
        ("sue", "Sue South", "sales_rep", "south", "MEMBER"),
    ):
        w[key] = await api.user(name, f"{key}.history@example.com", roles=[role])
        await api.member(w[team], w[key], role=membership)
    await api.rate("EUR", "1.10", "2020-01-01")
    deals: dict[str, str] = {}
    for key, owner, stage, amount, fields in (
        ("pull", "ana", "Contract sent", "100.00", {"closeDate": OUTSIDE}),
        ("push", "ana", "Contract sent", "200.00", {}),
        ("won", "ana", "Contract sent", "300.00", {}),
        ("lost", "ana", "Contract sent", "400.00", {}),
        ("cat_in", "ana", "Appointment scheduled", "500.00", {"forecastCategory": "NOT_FORECASTED"}),
        ("cat_out", "ana", "Contract sent", "600.00", {}),
        ("moved_in", "sue", "Contract sent", "700.00", {}),
        ("up", "ben", "Contract sent", "800.00", {}),
        ("down", "ben", "Contract sent", "900.00", {}),
        ("euro", "ben", "Contract sent", "1000.00", {"currency": "EUR"}),
        ("steady", "owen", "Contract sent", "50.00", {}),
        ("sideways", "ben", "Appointment scheduled", "60.00", {}),
        ("south", "sue", "Contract sent", "70.00", {}),
    ):
        given = {"closeDate": INSIDE} | fields
        close = given.pop("closeDate")
        deals[key] = await api.deal(pipeline, stage, amount, close, name=key, ownerId=w[owner], **given)
    w["deals"] = deals
    w["live_at_a"] = (await _table(w, "admin", "north"))["summary"]
    await asyncio.sleep(0.01)
    w["a"] = datetime.now(UTC)
    await asyncio.sleep(0.01)
    stages = pipeline["stages"]
    for key, change in (
        ("pull", {"closeDate": INSIDE}),
        ("push", {"closeDate": OUTSIDE}),
        ("won", {"stageId": stages["Closed won"], "amount": "350.00"}),
        ("lost", {"stageId": stages["Closed lost"]}),
        ("cat_in", {"resetForecastCategory": True}),
        ("cat_out", {"forecastCategory": "NOT_FORECASTED"}),
        ("moved_in", {"ownerId": w["ana"]}),
        ("up", {"amount": "850.00"}),
        ("down", {"amount": "880.00"}),
        ("sideways", {"stageId": stages["Qualified to buy"]}),
        ("south", {"amount": "75.00"}),
    ):
        await api.run(UPDATE, i={"id": deals[key]} | change)
    deals["new"] = await api.deal(pipeline, "Contract sent", "1100.00", INSIDE, name="new", ownerId=w["ana"])
    await api.rate("EUR", "1.20", (TODAY + timedelta(days=1)).isoformat())
    w["b"] = datetime.now(UTC) + timedelta(days=1)
    return w


def _token(w: dict[str, Any], viewer: str) -> str:
    return w["api"].token if viewer == "admin" else token_of(w[viewer])


async def _table(w: dict[str, Any], viewer: str, team: str) -> Any:
    found = await data(w["api"].client, TABLE, {"p": w["pipeline"]["id"], "period": PERIOD.key, "t": w[team]},
                       token=_token(w, viewer))  # fmt: skip
    return found["forecast"]


async def _changes(
    w: dict[str, Any], viewer: str, subject: dict[str, str], a: datetime, b: datetime
) -> dict[str, Any]:
    variables = {
        "s": subject,
        "p": w["pipeline"]["id"],
        "period": PERIOD.key,
        "from": moment(a),
        "to": moment(b),
    }
    found: dict[str, Any] = (await data(w["api"].client, CHANGES, variables, token=_token(w, viewer)))[
        "forecastChanges"
    ]
    steps = [s["amount"] for s in found["steps"]]
    # The steps add up to the change of total, exactly.
    assert sum(map(Decimal, steps)) == Decimal(found["endTotal"]) - Decimal(found["startTotal"])
    for step in found["steps"]:  # deals lists those the viewer may see today (all of them, for an admin)
        listed = step["deals"]["totalCount"]
        assert listed == step["dealCount"] if viewer == "admin" else listed <= step["dealCount"]
    return found


def _steps(found: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """The steps that took deals: amount and deal names."""
    return {
        s["kind"]: (s["amount"], [e["node"]["name"] for e in s["deals"]["edges"]])
        for s in found["steps"]
        if s["dealCount"]
    }


async def test_each_kind_of_change_lands_in_its_step(world: dict[str, Any]) -> None:
    north = {"teamId": world["north"]}
    found = await _changes(world, "admin", north, world["a"], world["b"])
    assert found["subject"] == {"name": "North"}
    assert [s["kind"] for s in found["steps"]] == list(EXPECTED_STEPS)  # every kind, in the enum's order
    assert (found["startTotal"], found["endTotal"]) == ("4410.00", "5790.00")
    assert _steps(found) == EXPECTED_STEPS
    # As of A, the total is what the live table said at A.
    assert found["startTotal"] == world["live_at_a"]["total"]


async def test_the_trend_ends_where_the_table_is(world: dict[str, Any]) -> None:
    variables = {"s": {"teamId": world["north"]}, "p": world["pipeline"]["id"], "period": PERIOD.key, "n": 3}
    points = (await data(world["api"].client, TREND, variables, token=world["api"].token))["forecastTrend"]
    assert len(points) == 3
    start = datetime.combine(PERIOD.start(1), datetime.min.time(), UTC)
    assert datetime.fromisoformat(points[0]["at"]) == start
    at = [datetime.fromisoformat(p["at"]) for p in points]
    assert at[0] < at[1] < at[2] <= datetime.now(UTC)
    # Nothing of this pipeline existed at the quarter's start.
    first = points[0]
    assert (first["total"], first["closedWon"], first["pipelineValue"]) == ("0.00", "0.00", "0.00")
    live = (await _table(world, "admin", "north"))["summary"]
    assert {k: points[2][k] for k in live} == live
    assert live["total"] != world["live_at_a"]["total"]


async def test_the_team_only_view_has_no_call(world: dict[str, Any]) -> None:
    client, pipeline = world["api"].client, world["pipeline"]["id"]
    for subject, viewer, has_call in (
        ({"teamId": world["north"]}, "ben", False),
        ({"userId": world["ana"]}, "ben", False),
        ({"userId": world["ben"]}, "ben", True),
        ({"teamId": world["north"]}, "nora", True),
    ):
        variables = {"s": subject, "p": pipeline, "period": PERIOD.key, "n": 2}
        points = (await data(client, TREND, variables, token=token_of(world[viewer])))["forecastTrend"]
        assert [p["call"] is not None for p in points] == [has_call, has_call]
        assert all(p["total"] is not None for p in points)


async def test_a_deal_outside_the_viewers_reach_never_counts(world: dict[str, Any]) -> None:
    a, b, north = world["a"], world["b"], {"teamId": world["north"]}
    # Owen sees only his own deals: North's waterfall, for him, is his one unchanged deal.
    owen = await _changes(world, "owen", north, a, b)
    assert (owen["startTotal"], owen["endTotal"]) == ("50.00", "50.00")
    assert _steps(owen) == {}
    # Nora sees North's deals as the admin does, and South's not at all.
    assert _steps(await _changes(world, "nora", north, a, b)) == EXPECTED_STEPS
    code, _ = await error_code(
        world["api"].client,
        CHANGES,
        {"s": {"teamId": world["south"]}, "p": world["pipeline"]["id"], "period": PERIOD.key,
         "from": moment(a), "to": moment(b)},
        token=token_of(world["nora"]),
    )  # fmt: skip
    assert code == "NOT_FOUND"


async def test_a_deal_reassigned_out_counts_but_is_not_listed(world: dict[str, Any]) -> None:
    api, w = world["api"], world
    gone = await api.deal(w["pipeline"], "Contract sent", "30.00", INSIDE, name="gone", ownerId=w["ben"])
    await asyncio.sleep(0.01)
    a = datetime.now(UTC)
    await api.run(UPDATE, i={"id": gone, "ownerId": w["sue"]})
    b = datetime.now(UTC)
    steps = _steps(await _changes(w, "nora", {"teamId": w["north"]}, a, b))
    assert steps == {"REASSIGNED": ("-30.00", [])}  # Sue's deal now: outside Nora's reach, not listed
    assert _steps(await _changes(w, "admin", {"teamId": w["north"]}, a, b)) == {
        "REASSIGNED": ("-30.00", ["gone"])
    }
    south = _steps(await _changes(w, "admin", {"teamId": w["south"]}, a, b))
    assert south == {"REASSIGNED": ("30.00", ["gone"])}


async def test_bad_moments_are_refused(world: dict[str, Any]) -> None:
    client, a = world["api"].client, world["a"]
    base = {"s": {"teamId": world["north"]}, "p": world["pipeline"]["id"], "period": PERIOD.key}
    for variables in (
        base | {"from": moment(a), "to": moment(a)},
        base | {"from": moment(a), "to": moment(a - timedelta(seconds=1))},
        base | {"period": "2026-11", "from": moment(a), "to": moment(a + timedelta(hours=1))},
    ):
        assert (await error_code(client, CHANGES, variables, token=world["api"].token))[0] == "BAD_USER_INPUT"
    for points in (0, 101):
        variables = base | {"n": points}
        assert (await error_code(client, TREND, variables, token=world["api"].token))[0] == "BAD_USER_INPUT"
    future = base | {"period": PERIOD.shifted(2).key, "n": 13}
    assert (await data(client, TREND, future, token=world["api"].token))["forecastTrend"] == []
    missing = {"s": {"userId": to_base64("User", 10**9)}, "from": moment(a), "to": moment(a + timedelta(1))}
    assert (await error_code(client, CHANGES, base | missing, token=world["api"].token))[0] == "NOT_FOUND"


async def test_rebuilding_the_versions_from_the_recorded_changes_keeps_the_past(
    world: dict[str, Any], database_url: str
) -> None:
    """`pipecast history rebuild` (as the migration does) reads the versions back from deal_changes: the
    waterfall and the trend are what they were."""
    north = {"teamId": world["north"]}
    before = await _changes(world, "admin", north, world["a"], world["b"])
    trend = {"s": north, "p": world["pipeline"]["id"], "period": PERIOD.key, "n": 5}
    trend_before = await data(world["api"].client, TREND, trend, token=world["api"].token)
    rebuilt = await asyncio.to_thread(
        pipecast, "history", "rebuild", env=cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("rebuilt ")
    assert "deal versions" in rebuilt.stdout
    assert await _changes(world, "admin", north, world["a"], world["b"]) == before
    trend_after = await data(world["api"].client, TREND, trend, token=world["api"].token)
    for old, new in zip(trend_before["forecastTrend"], trend_after["forecastTrend"], strict=True):
        assert {k: v for k, v in old.items() if k != "at"} == {k: v for k, v in new.items() if k != "at"}
