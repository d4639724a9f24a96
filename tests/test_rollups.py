"""The forecast's rollups cannot drift from the deals (db/rollups.py).

A Hypothesis state machine drives random writes through the API of a real `pipecast serve` — creating
deals, changing every field, closing and reopening, reassigning and unassigning, changing stage mappings,
stage probabilities and exchange rates, and bursts of concurrent writers — and after every step compares
the rollups with a from-scratch aggregate of the deals, and the forecast table's counts and amounts
with the deals' own as the API lists them. Also: 32 writers moving deals of one owner at once, a
rolled-back write, and `pipecast rollups verify` / `rebuild` as an operator types them.
"""

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import text

from db import rollups, stage_rollups
from db.engine import create_engine
from db.tables import rollup_measure
from db.vocabulary import FORECAST_CATEGORIES
from tests.builders import CLASSIC_STAGES
from tests.support import SECRET, cli_admin, cli_env, pipecast, post, served

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them

COUNTS = [rollup_measure("deals", c) for c in FORECAST_CATEGORIES]

PERIOD = "2026-Q4"
CLOSES = ["2026-09-30", "2026-10-01", "2026-11-15", "2026-12-31", "2027-01-01"]
AMOUNTS = ["0.01", "0.05", "10.00", "333.33", "1234.56"]
CURRENCIES = ["USD", "EUR", "GBP"]
CATEGORIES = ["PIPELINE", "BEST_CASE", "COMMIT"]


def _drift(database_url: str) -> list[Any]:
    """The deal rollup rows that differ from the deals, and one entry per differing stage rollup row."""

    async def check() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [*await rollups.drift(conn), *["stage rollup row"] * await stage_rollups.drift(conn)]
        finally:
            await engine.dispose()

    return asyncio.run(check())


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    admin = cli_admin(env)
    with served("--workers", "2", env=env, log=tmp_path_factory.mktemp("rollups") / "serve.log") as server:
        base = server.base
        for currency, rate in (("EUR", "1.50"), ("GBP", "0.75")):
            post(base, admin, "mutation($i: ExchangeRateInput!) { setExchangeRate(input: $i) { rate } }",
                  i={"currency": currency, "rate": rate, "validFrom": "2020-01-01"})  # fmt: skip
        pipeline = post(base, admin, "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id stages { id label state } } }",
                         i={"name": "Main", "stages": CLASSIC_STAGES})["createPipeline"]  # fmt: skip
        team = post(base, admin, 'mutation { createTeam(input: {name: "Team"}) { id } }')["createTeam"]["id"]
        owners = []
        for n, seat in enumerate((True, True, True, False)):
            user = post(base, admin, "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                         i={"name": f"Owner {n}", "email": f"owner{n}@example.com", "salesSeat": seat})["createUser"]["id"]  # fmt: skip
            post(base, admin, "mutation($i: TeamMembershipInput!) { setTeamMembership(input: $i) { primary } }",
                  i={"teamId": team, "userId": user, "role": "MEMBER", "primary": True})  # fmt: skip
            owners.append(user)
        yield {
            "base": base,
            "admin": admin,
            "pipeline": pipeline,
            "owners": owners,
            "url": database_url,
            "team": team,
        }


CREATE = "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"
UPDATE = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id } }"
TABLE = """query($p: ID!, $t: ID!) { forecast(pipelineId: $p, period: "2026-Q4", teamId: $t) {
  users { subject { ... on User { id } } dealCount categories { category amount count } weightedPipeline closedWon pipelineValue } } }"""
DEALS = """query($p: ID!, $after: String) { deals(first: 200, after: $after, filter: {pipelineId: $p, period: "2026-Q4"}) {
  edges { node { owner { id salesSeat } forecastCategory amountInCompanyCurrency weightedAmount stage { state } } }
  pageInfo { hasNextPage endCursor } } }"""


class Writes(RuleBasedStateMachine):
    """Random writes through the API; after each, the rollups equal the deals' aggregate."""

    world: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self.deals: list[str] = []

    def post(self, query: str, **variables: Any) -> Any:
        return post(self.world["base"], self.world["admin"], query, **variables)

    def _stage(self, label: Any) -> str:
        return str(next(s["id"] for s in self.world["pipeline"]["stages"] if s["label"] == label))

    @initialize()
    def start(self) -> None:
        self.deals = []

    @rule(
        stage=st.sampled_from([s["label"] for s in CLASSIC_STAGES]),
        amount=st.sampled_from(AMOUNTS),
        currency=st.sampled_from(CURRENCIES),
        close=st.sampled_from(CLOSES),
        owner=st.integers(-1, 3),
        category=st.sampled_from([None, *CATEGORIES]),
        probability=st.sampled_from([None, 0.0, 0.25, 1.0]),
    )
    def create(self, stage: str, amount: str, currency: str, close: str, owner: int,
               category: str | None, probability: float | None) -> None:  # fmt: skip
        fields: dict[str, Any] = {"name": f"Deal {len(self.deals)}", "pipelineId": self.world["pipeline"]["id"],
                                  "stageId": self._stage(stage), "amount": amount, "currency": currency, "closeDate": close}  # fmt: skip
        if owner >= 0:
            fields["ownerId"] = self.world["owners"][owner]
        if category and stage not in ("Closed won", "Closed lost"):
            fields["forecastCategory"] = category
        if probability is not None:
            fields["probability"] = probability
        self.deals.append(self.post(CREATE, i=fields)["createDeal"]["id"])

    @rule(data=st.data())
    def update(self, data: st.DataObject) -> None:
        if not self.deals:
            return
        change: dict[str, Any] = {"id": data.draw(st.sampled_from(self.deals))}
        for name, values in (
            ("stageId", [self._stage(s["label"]) for s in CLASSIC_STAGES]),
            ("amount", AMOUNTS),
            ("currency", CURRENCIES),
            ("closeDate", CLOSES),
            ("ownerId", [None, *self.world["owners"]]),
            ("probability", [None, 0.1, 0.9]),
            ("name", ["Renamed"]),
        ):
            if data.draw(st.integers(0, 3)) == 0:
                change[name] = data.draw(st.sampled_from(values))
        if data.draw(st.integers(0, 4)) == 0:
            change["resetForecastCategory"] = True
        elif data.draw(st.integers(0, 4)) == 0:
            change["forecastCategory"] = data.draw(st.sampled_from(CATEGORIES))
        response = httpx.post(
            f"{self.world['base']}/graphql",
            json={"query": UPDATE, "variables": {"i": change}},
            headers={"Authorization": f"Bearer {self.world['admin']}"},
            timeout=60,
        ).json()
        # A manual category on a closed deal is refused: nothing written then.
        if "errors" in response:
            assert response["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", response

    @rule(stage=st.sampled_from([s["label"] for s in CLASSIC_STAGES[:5]]), category=st.sampled_from(CATEGORIES),
          probability=st.sampled_from([0.05, 0.5, 0.95]))  # fmt: skip
    def remap(self, stage: str, category: str, probability: float) -> None:
        self.post("mutation($i: StageMappingInput!) { updateStageMapping(input: $i) { id } }",
                   i={"stageId": self._stage(stage), "forecastCategory": category, "probability": probability})  # fmt: skip

    @rule(currency=st.sampled_from(["EUR", "GBP"]), rate=st.sampled_from(["0.50", "1.25", "2.00"]),
          day=st.sampled_from(["2021-01-01", "2024-06-30"]))  # fmt: skip
    def rate(self, currency: str, rate: str, day: str) -> None:
        self.post("mutation($i: ExchangeRateInput!) { setExchangeRate(input: $i) { rate } }",
                   i={"currency": currency, "rate": rate, "validFrom": day})  # fmt: skip

    @rule(month=st.sampled_from([1, 2, 4, 11]))
    def fiscal_year(self, month: int) -> None:
        """The quarter buckets follow the fiscal year; 2026-Q4 then covers other months."""
        self.post("mutation($i: CompanySettingsInput!) { updateCompanySettings(input: $i) { currency } }",
                   i={"fiscalYearStartMonth": month})  # fmt: skip

    @rule(seed=st.integers(0, 1000))
    def concurrent_writers(self, seed: int) -> None:
        if len(self.deals) < 2:
            return
        chooser = random.Random(seed)
        stages = [self._stage(s["label"]) for s in CLASSIC_STAGES]
        changes = [{"id": chooser.choice(self.deals), "stageId": chooser.choice(stages),
                    "amount": chooser.choice(AMOUNTS), "ownerId": chooser.choice(self.world["owners"])}
                   for _ in range(8)]  # fmt: skip
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda change: self.post(UPDATE, i=change), changes))

    @invariant()
    def rollups_equal_the_deals(self) -> None:
        assert _drift(self.world["url"]) == []

    @invariant()
    def the_table_adds_up_the_listed_deals(self) -> None:
        table = self.post(TABLE, p=self.world["pipeline"]["id"], t=self.world["team"])["forecast"]["users"]
        counted: dict[str, Counter[str]] = {}
        amounts: dict[str, Decimal] = {}
        listed, after = [], None
        while True:
            page = self.post(DEALS, p=self.world["pipeline"]["id"], after=after)["deals"]
            listed += [edge["node"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        for deal in listed:
            if deal["owner"] and deal["owner"]["salesSeat"]:
                owner = deal["owner"]["id"]
                counted.setdefault(owner, Counter())[deal["forecastCategory"]] += 1
                amounts[owner] = amounts.get(owner, Decimal(0)) + Decimal(deal["weightedAmount"])
        for row in table:
            owner = row["subject"]["id"]
            by_category = {c["category"]: c["count"] for c in row["categories"] if c["count"]}
            assert by_category == dict(counted.get(owner, Counter())), (owner, row)
            # Each listed amount is rounded to the cent, the table rounds the sum: they differ by at most
            # half a cent a deal.
            tolerance = Decimal("0.005") * (row["dealCount"] + 1)
            assert abs(Decimal(row["weightedPipeline"]) - amounts.get(owner, Decimal(0))) <= tolerance


def test_rollups_follow_every_write(world: dict[str, Any]) -> None:
    Writes.world = world
    state_machine = Writes.TestCase
    state_machine.settings = settings(
        max_examples=12,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    state_machine().runTest()


def test_thirty_two_writers_on_one_owner(world: dict[str, Any]) -> None:
    """Hot rollup rows: 32 writers at once moving deals of one owner between stages, months and
    currencies; none deadlocks, none is lost."""
    pipeline, owner = world["pipeline"], world["owners"][0]
    stages = [s["id"] for s in pipeline["stages"]]
    base, admin = world["base"], world["admin"]
    deals = [
        post(base, admin, CREATE, i={"name": f"Hot {n}", "pipelineId": pipeline["id"], "stageId": stages[n % 5],
                                      "amount": "100.00", "closeDate": "2026-11-01", "ownerId": owner})["createDeal"]["id"]
        for n in range(32)
    ]  # fmt: skip

    async def writers() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(
            base_url=base, timeout=60, limits=httpx.Limits(max_connections=40)
        ) as client:
            changes = [
                {"id": deal, "stageId": stages[(n * 3) % len(stages)], "closeDate": CLOSES[n % len(CLOSES)],
                 "currency": CURRENCIES[n % 3], "amount": f"{n + 1}.00"}
                for n, deal in enumerate(deals)
            ]  # fmt: skip
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/graphql",
                        json={"query": UPDATE, "variables": {"i": c}},
                        headers={"Authorization": f"Bearer {admin}"},
                    )
                    for c in changes
                )
            )
        return [r.json() for r in responses]

    for _ in range(3):
        answers = asyncio.run(writers())
        assert all("errors" not in a for a in answers), [a for a in answers if "errors" in a][:3]
        assert _drift(world["url"]) == []


def test_a_rolled_back_write_leaves_no_trace(world: dict[str, Any]) -> None:
    async def scenario() -> tuple[int, int]:
        engine = create_engine(world["url"])
        try:
            count = text(f"SELECT coalesce(sum({' + '.join(COUNTS)}), 0) FROM deal_rollups")
            async with engine.connect() as conn:
                before = int(await conn.scalar(count) or 0)
            async with engine.connect() as conn:
                await conn.execute(text("UPDATE deals SET amount = amount + 1, close_date = '2026-12-01'"))
                await conn.execute(
                    text(
                        "INSERT INTO deals (name, pipeline_id, stage_id, amount, currency, close_date) SELECT 'x', pipeline_id, stage_id, 1, 'USD', '2026-12-01' FROM deals LIMIT 5"
                    )
                )
                await conn.rollback()
            async with engine.connect() as conn:
                return before, int(await conn.scalar(count) or 0)
        finally:
            await engine.dispose()

    before, after = asyncio.run(scenario())
    assert before == after
    assert _drift(world["url"]) == []


def test_operators_verify_and_rebuild(world: dict[str, Any]) -> None:
    env = cli_env(DATABASE_URL=world["url"], PIPECAST_JWT_SECRET=SECRET)
    verified = pipecast("rollups", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "the rollups match the deals" in verified.stdout

    async def tamper() -> None:
        engine = create_engine(world["url"])
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE deal_rollups SET amount_commit = amount_commit + 7"))
            await conn.execute(text("UPDATE stage_rollups SET squares = squares + 1"))
            await conn.execute(
                text(
                    "DELETE FROM deal_rollups WHERE ctid IN (SELECT ctid FROM deal_rollups WHERE deals_pipeline > 0 LIMIT 1)"
                )
            )
        await engine.dispose()

    asyncio.run(tamper())
    drifted = pipecast("rollups", "verify", env=env)
    assert drifted.returncode == 1
    assert "rollup rows differ from the deals" in drifted.stdout
    assert "the deals add up to" in drifted.stdout
    assert "stage rollup rows (the open deals per stage) differ from the deals" in drifted.stdout
    rebuilt = pipecast("rollups", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("rebuilt ")
    assert pipecast("rollups", "verify", env=env).returncode == 0
