"""Predictions through the API (docs/domain.md §9), against numbers worked out by hand and by an exact
enumeration in fractions written here.

Pipeline "Outlook", by MONTH, raw amounts; stages A (open, 0.5), B (open, 0.8), Won, Lost. M is the
current month. The past (made through the API, then moved back in time and read back into the versions by
`pipecast history rebuild`, as an operator restoring history would):
  h1  A → B → Won, closes in M−2                    ever in A, B, Won
  h2  A → Lost, closes in M−2                       ever in A, Lost
  h3  A (closing in M−3), close date → M−2, → B → Won   slipped for A (entered A with an M−3 close date)
  h4  A → Won, closes in M−6: outside the lookback M−4 … M−1
So A: observed 3, won 2, slipped 1 → w = (2 + 5) ÷ 13, s = 1/3; B: observed 2, won 2 → w = 10/12, s = 0;
Won: 2 of 2 → 1; Lost: 0 of 1 → 0. Basis 3. Chance(A) = 7/13 × 2/3 = 14/39, chance(B) = 5/6.

Now, in M, team Tide: Ana (rep) A 1000, B 2000, won 500; Ben (rep) B 3000. Mia manages Tide. Olga is a rep
of Tide whose role sees only her own deals.
"""

import asyncio
import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import from_base64

from db.periods import period_containing
from tests.builders import Api
from tests.support import SECRET, cli_env, data, error_code, pipecast, token_for

M = period_containing(date.today(), "MONTH")
STAGES = [
    {"label": "A", "probability": 0.5, "state": "OPEN"},
    {"label": "B", "probability": 0.8, "state": "OPEN"},
    {"label": "Won", "probability": 1.0, "state": "WON"},
    {"label": "Lost", "probability": 0.0, "state": "LOST"},
]
UPDATE = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id } }"
PREDICTION = "prediction { p10 p50 p90 expected openDeals basis }"
TABLE = f"""query($p: ID!, $period: Period!, $t: ID) {{ forecast(pipelineId: $p, period: $period, teamId: $t) {{
  summary {{ closedWon restricted {PREDICTION} }}
  users {{ subject {{ ... on User {{ name }} }} closedWon restricted {PREDICTION} }} }} }}"""
RATES = """query($period: Period) { pipelines { name outcomeRates(period: $period) { stage { label }
  winRate slipRate observed } } }"""
CHANCE_A, CHANCE_B = Fraction(14, 39), Fraction(5, 6)


def _day(period_steps: int, day: int) -> str:
    return M.shifted(period_steps).start().replace(day=day).isoformat()


@pytest.fixture(scope="module")
async def world(
    client: httpx.AsyncClient, admin: int, engine: AsyncEngine, database_url: str
) -> dict[str, Any]:
    api = Api(client, token_for(admin))
    pipeline = await api.pipeline("Outlook", STAGES, periodKind="MONTH", forecastAmount="RAW")
    tide = await api.team("Tide")
    await api.run('mutation { createRole(name: "own_only") { name } }')
    for resource, scope in (("deal", "OWN"), ("forecast", "TEAM")):
        await api.run(
            "mutation($i: SetPermissionInput!) { setPermission(input: $i) { scope } }",
            i={"subject": "own_only", "resource": resource, "action": "view", "scope": scope},
        )
    w: dict[str, Any] = {"api": api, "pipeline": pipeline, "tide": tide, "admin_id": admin}
    for key, name, role, membership in (
        ("mia", "Mia Tide", "sales_manager", "MANAGER"),
        ("ana", "Ana Tide", "sales_rep", "MEMBER"),
        ("ben", "Ben Tide", "sales_rep", "MEMBER"),
        ("olga", "Olga Tide", "own_only", "MEMBER"),
    ):
        w[key] = await api.user(name, f"{key}.outlook@example.com", roles=[role])
        await api.member(tide, w[key], role=membership)

    async def walk(name: str, close: str, *steps: dict[str, Any]) -> str:
        deal = await api.deal(pipeline, "A", "100.00", close, name=name, ownerId=w["ana"])
        for step in steps:
            await api.run(UPDATE, i={"id": deal, **step})
        return deal

    stage = pipeline["stages"]
    past = {
        "h1": await walk("h1", _day(-2, 10), {"stageId": stage["B"]}, {"stageId": stage["Won"]}),
        "h2": await walk("h2", _day(-2, 11), {"stageId": stage["Lost"]}),
        "h3": await walk(
            "h3", _day(-3, 20), {"closeDate": _day(-2, 5)}, {"stageId": stage["B"]}, {"stageId": stage["Won"]}
        ),
        "h4": await walk("h4", _day(-6, 10), {"stageId": stage["Won"]}),
    }
    # The past as it happened: each deal created at the start of the month before it closed, its recorded
    # changes a day apart after that; then the versions are read back from that history.
    async with engine.begin() as conn:
        for name, deal in past.items():
            months_back = {"h1": -3, "h2": -3, "h3": -4, "h4": -7}[name]
            born = datetime.combine(M.shifted(months_back).start(), time(9), UTC) + timedelta(days=1)
            deal_key = int(from_base64(deal)[1])
            await conn.execute(
                text("UPDATE deals SET created_at = :at WHERE id = :id"), {"at": born, "id": deal_key}
            )
            await conn.execute(
                text(
                    "UPDATE deal_changes c SET at = CAST(:at AS timestamptz) + make_interval(days => n.rank::int) FROM (SELECT id, "
                    "row_number() OVER (ORDER BY id) AS rank FROM deal_changes WHERE deal_id = :id) n "
                    "WHERE c.id = n.id"
                ),
                {"at": born, "id": deal_key},
            )
    rebuilt = await asyncio.to_thread(
        pipecast, "history", "rebuild", env=cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    this_month = _day(0, 28)
    for owner, stage_name, amount in (
        ("ana", "A", "1000.00"),
        ("ana", "B", "2000.00"),
        ("ana", "Won", "500.00"),
        ("ben", "B", "3000.00"),
        ("olga", "A", "400.00"),
    ):
        await api.deal(pipeline, stage_name, amount, this_month, ownerId=w[owner])
    # Not in M: a deal of next month, and Ben's of last month.
    await api.deal(pipeline, "B", "7000.00", _day(1, 2), ownerId=w["ben"])
    await api.deal(pipeline, "B", "9000.00", _day(-1, 2), ownerId=w["ben"])
    return w


async def _as(world: dict[str, Any], who: str, query: str, **variables: Any) -> Any:
    token = token_for(world["admin_id"]) if who == "admin" else token_for(int(from_base64(world[who])[1]))
    return await data(world["api"].client, query, variables, token=token)


def _range(closed_won: int, deals: list[tuple[int, Fraction]]) -> dict[str, Any]:
    """The exact range, by enumerating every outcome in fractions."""
    outcomes: dict[int, Fraction] = {}
    for won in itertools.product((False, True), repeat=len(deals)):
        chance = Fraction(1)
        for (_, p), w in zip(deals, won, strict=True):
            chance *= p if w else 1 - p
        total = closed_won + sum(a for (a, _), w in zip(deals, won, strict=True) if w)
        outcomes[total] = outcomes.get(total, Fraction(0)) + chance

    def percentile(level: Fraction) -> str:
        running = Fraction(0)
        for total in sorted(outcomes):
            running += outcomes[total]
            if running >= level:
                return f"{total}.00"
        raise AssertionError

    expected = closed_won + sum(a * p for a, p in deals)
    cents = Decimal(expected.numerator) / Decimal(expected.denominator)
    return {
        "p10": percentile(Fraction(1, 10)),
        "p50": percentile(Fraction(1, 2)),
        "p90": percentile(Fraction(9, 10)),
        "expected": str(cents.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)),
        "openDeals": len(deals),
        "basis": 3,
    }


ANA = (500, [(1000, CHANCE_A), (2000, CHANCE_B)])
BEN = (0, [(3000, CHANCE_B)])
OLGA = (0, [(400, CHANCE_A)])


async def test_the_rates_are_learned_from_the_lookback(world: dict[str, Any]) -> None:
    found = await _as(world, "admin", RATES, period=M.key)
    [outlook] = [p for p in found["pipelines"] if p["name"] == "Outlook"]
    rates = {
        r["stage"]["label"]: (r["winRate"], r["slipRate"], r["observed"]) for r in outlook["outcomeRates"]
    }
    assert rates == {
        "A": (pytest.approx(7 / 13), pytest.approx(1 / 3), 3),
        "B": (pytest.approx(10 / 12), 0.0, 2),
        "Won": (1.0, 0.0, 2),
        "Lost": (0.0, 0.0, 1),
    }
    # Without a period: the current one's; a later period learns from the same ended periods.
    assert (await _as(world, "admin", RATES))["pipelines"] == found["pipelines"]
    assert (await _as(world, "admin", RATES, period=M.shifted(2).key))["pipelines"] == found["pipelines"]
    # For M−3 the lookback M−7 … M−4 holds h4 alone; for M−6, no deal closed in M−10 … M−7: the configured
    # probabilities.
    for steps, expected in (
        (-3, [(6 / 11, 1), (0.8, 0), (1.0, 1), (0.0, 0)]),
        (-6, [(0.5, 0), (0.8, 0), (1.0, 0), (0.0, 0)]),
    ):
        earlier = await _as(world, "admin", RATES, period=M.shifted(steps).key)
        [outlook] = [p for p in earlier["pipelines"] if p["name"] == "Outlook"]
        assert [(r["winRate"], r["observed"]) for r in outlook["outcomeRates"]] == [
            (pytest.approx(w), n) for w, n in expected
        ]


async def test_every_row_has_the_range_of_its_deals(world: dict[str, Any]) -> None:
    found = (await _as(world, "mia", TABLE, p=world["pipeline"]["id"], period=M.key, t=world["tide"]))[
        "forecast"
    ]
    users = {u["subject"]["name"]: u["prediction"] for u in found["users"]}
    assert users["Ana Tide"] == _range(*ANA)
    assert users["Ben Tide"] == _range(*BEN)
    assert users["Olga Tide"] == _range(*OLGA)
    assert users["Mia Tide"] == _range(0, [])
    # The team's range is that of all its deals together — not a sum of the members' percentiles.
    team = found["summary"]["prediction"]
    assert team == _range(500, ANA[1] + BEN[1] + OLGA[1])
    for level in ("p10", "p90"):
        assert team[level] != f"{sum(Decimal(users[n][level]) for n in users):.2f}"


async def test_a_restricted_row_has_a_prediction_and_only_visible_deals_count(world: dict[str, Any]) -> None:
    """Ben (team-only view) sees Ana's row restricted, with her range; Olga sees only her own deals, so
    her team's range is hers alone."""
    ben = (await _as(world, "ben", TABLE, p=world["pipeline"]["id"], period=M.key, t=world["tide"]))[
        "forecast"
    ]
    ana = next(u for u in ben["users"] if u["subject"]["name"] == "Ana Tide")
    assert ana["restricted"] is True
    assert ana["prediction"] == _range(*ANA)
    olga = (await _as(world, "olga", TABLE, p=world["pipeline"]["id"], period=M.key, t=world["tide"]))[
        "forecast"
    ]
    assert olga["summary"]["prediction"] == _range(*OLGA)
    assert {u["subject"]["name"]: u["prediction"]["openDeals"] for u in olga["users"]}["Ana Tide"] == 0


async def test_single_rows_and_the_viewer_have_the_same_prediction(world: dict[str, Any]) -> None:
    query = """query($p: ID!, $period: Period!, $t: ID!, $u: ID!) {
      viewer { forecast(pipelineId: $p, period: $period) { %s } }
      team: node(id: $t) { ... on Team { forecast(pipelineId: $p, period: $period) { %s } } }
      user: node(id: $u) { ... on User { forecast(pipelineId: $p, period: $period) { %s } } } }""" % (
        (PREDICTION,) * 3
    )
    found = await _as(
        world, "ana", query, p=world["pipeline"]["id"], period=M.key, t=world["tide"], u=world["ben"]
    )
    assert found["viewer"]["forecast"]["prediction"] == _range(*ANA)
    assert found["user"]["forecast"]["prediction"] == _range(*BEN)
    assert found["team"]["forecast"]["prediction"] == _range(500, ANA[1] + BEN[1] + OLGA[1])


async def test_an_ended_period_has_no_prediction(world: dict[str, Any]) -> None:
    found = await _as(
        world, "admin", TABLE, p=world["pipeline"]["id"], period=M.shifted(-1).key, t=world["tide"]
    )
    assert found["forecast"]["summary"]["prediction"] is None
    assert all(u["prediction"] is None for u in found["forecast"]["users"])


async def test_a_period_of_the_wrong_kind_is_refused(world: dict[str, Any]) -> None:
    query = 'query($id: ID!) { node(id: $id) { ... on Pipeline { outcomeRates(period: "2026-Q1") { observed } } } }'
    code, message = await error_code(
        world["api"].client, query, {"id": world["pipeline"]["id"]}, token=world["api"].token
    )
    assert code == "BAD_USER_INPUT"
    assert "forecasts by MONTH" in message


async def test_backtest_as_typed(world: dict[str, Any], database_url: str) -> None:
    """`pipecast backtest` for the last four months prints a line per month that had subjects to test,
    and one for them all; an unknown pipeline and a bad count are refused."""
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    done = await asyncio.to_thread(pipecast, "backtest", "--pipeline", "Outlook", "--periods", "4", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("backtest of 'Outlook'")
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert set(rows) <= {M.shifted(-n).key for n in range(1, 5)} | {"all"}
    assert M.shifted(-2).key in rows
    subjects = int(rows["all"][0])
    assert subjects == sum(int(v[0]) for k, v in rows.items() if k != "all")
    coverage = float(rows["all"][1].rstrip("%"))
    assert 0 <= coverage <= 100
    missing = await asyncio.to_thread(pipecast, "backtest", "--pipeline", "No such", env=env)
    assert missing.returncode == 1
    assert "no pipeline named 'No such'" in missing.stderr
    bad = await asyncio.to_thread(pipecast, "backtest", "--periods", "0", env=env)
    assert bad.returncode == 2
