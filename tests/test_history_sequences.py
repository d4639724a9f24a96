"""The waterfall always adds up (docs/domain.md "History"): Hypothesis drives random deals and random
sequences of changes to them through the API of a real `pipecast serve` (a weighted pipeline, two
currencies, odd cents and probabilities, owners moving between two teams and none); for each sequence,
between the moment before it and the moment after it:

- the waterfall's start and end totals are what the live forecast table showed at those moments (the
  as-of reading of the rollups and the versions agrees with the table as it was);
- its steps add up to end − start exactly, in cents;
- every deal is in at most one step, and only deals of the sequence appear.
"""

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.periods import period_containing
from tests.builders import CLASSIC_STAGES
from tests.support import SECRET, cli_admin, cli_env, post, served

pytestmark = pytest.mark.slow  # a server process

PERIOD = period_containing(date.today(), "QUARTER")
CLOSES = [PERIOD.start(1).isoformat(), PERIOD.end(1).isoformat(), PERIOD.shifted(1).start(1).isoformat()]
AMOUNTS = ["0.01", "10.00", "333.33", "1234.57"]
STAGES = [s["label"] for s in CLASSIC_STAGES]
TABLE = """query($p: ID!, $period: Period!, $t: ID!) { forecast(pipelineId: $p, period: $period, teamId: $t) {
  summary { total } } }"""
CHANGES = """query($s: SubjectInput!, $p: ID!, $period: Period!, $from: DateTime!, $to: DateTime!) {
  forecastChanges(subject: $s, pipelineId: $p, period: $period, from: $from, to: $to) {
    startTotal endTotal steps { kind amount dealCount deals(first: 200) { edges { node { id } } } } } }"""


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    admin = cli_admin(env)
    with served(env=env, log=tmp_path_factory.mktemp("history") / "serve.log") as server:
        base = server.base
        post(base, admin, "mutation($i: ExchangeRateInput!) { setExchangeRate(input: $i) { rate } }",
              i={"currency": "EUR", "rate": "1.1234", "validFrom": "2020-01-01"})  # fmt: skip
        teams = [
            post(
                base,
                admin,
                "mutation($i: CreateTeamInput!) { createTeam(input: $i) { id } }",
                i={"name": name},
            )["createTeam"]["id"]
            for name in ("One", "Two")
        ]
        owners = []
        for n, team in enumerate((teams[0], teams[0], teams[1])):
            user = post(base, admin, "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                         i={"name": f"Owner {n}", "email": f"owner{n}@example.com", "salesSeat": True})["createUser"]["id"]  # fmt: skip
            post(base, admin, "mutation($i: TeamMembershipInput!) { setTeamMembership(input: $i) { primary } }",
                  i={"teamId": team, "userId": user, "role": "MEMBER", "primary": True})  # fmt: skip
            owners.append(user)
        yield {
            "base": base,
            "admin": admin,
            "teams": teams,
            "owners": owners,
            "pipelines": iter(range(10**6)),
        }


owner_choice = st.sampled_from([0, 1, 2, None])
deal_fields = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(STAGES),
        "amount": st.sampled_from(AMOUNTS),
        "currency": st.sampled_from(["USD", "EUR"]),
        "closeDate": st.sampled_from(CLOSES),
        "owner": owner_choice,
    }
)
change = st.one_of(
    st.fixed_dictionaries({"stage": st.sampled_from(STAGES)}),
    st.fixed_dictionaries({"amount": st.sampled_from(AMOUNTS)}),
    st.fixed_dictionaries({"currency": st.sampled_from(["USD", "EUR"])}),
    st.fixed_dictionaries({"closeDate": st.sampled_from(CLOSES)}),
    st.fixed_dictionaries({"owner": owner_choice}),
    st.fixed_dictionaries({"probability": st.sampled_from([0.05, 0.37, 0.5])}),
    st.fixed_dictionaries({"forecastCategory": st.sampled_from(["PIPELINE", "BEST_CASE", "NOT_FORECASTED"])}),
    st.fixed_dictionaries({"resetForecastCategory": st.just(True)}),
    st.fixed_dictionaries({"new": deal_fields}),
)


def _input(world: dict[str, Any], stages: dict[str, str], fields: dict[str, Any]) -> dict[str, Any]:
    """The API's fields of a drawn deal or change."""
    given_: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "stage":
            given_["stageId"] = stages[value]
        elif key == "owner":  # None: unassigned
            given_["ownerId"] = world["owners"][value] if value is not None else None
        else:
            given_[key] = value
    return given_


def _totals(world: dict[str, Any], pipeline: str) -> list[str]:
    return [
        post(world["base"], world["admin"], TABLE, p=pipeline, period=PERIOD.key, t=team)["forecast"][
            "summary"
        ]["total"]
        for team in world["teams"]
    ]


def _moment() -> datetime:
    time.sleep(0.005)
    at = datetime.now(UTC)
    time.sleep(0.005)
    return at


@given(
    start=st.lists(deal_fields, min_size=1, max_size=4),
    changes=st.lists(st.tuples(st.integers(0, 9), change), max_size=8),
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_steps_add_up(
    world: dict[str, Any], start: list[dict[str, Any]], changes: list[tuple[int, dict[str, Any]]]
) -> None:
    base, admin = world["base"], world["admin"]
    pipeline = post(base, admin, "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id stages { id label } } }",
                     i={"name": f"Sequence {next(world['pipelines'])}", "stages": CLASSIC_STAGES})["createPipeline"]  # fmt: skip
    stages = {s["label"]: s["id"] for s in pipeline["stages"]}

    def create(fields: dict[str, Any]) -> str:
        given_ = _input(world, stages, fields)
        deal = post(base, admin, "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }",
                     i={"name": "d", "pipelineId": pipeline["id"]} | given_)  # fmt: skip
        return str(deal["createDeal"]["id"])

    deals = [create(fields) for fields in start]
    before = _totals(world, pipeline["id"])
    a = _moment()
    for n, fields in changes:
        if "new" in fields:
            deals.append(create(fields["new"]))
            continue
        given_ = _input(world, stages, fields)
        deal = deals[n % len(deals)]
        response = httpx.post(
            f"{base}/graphql",
            json={"query": "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id } }",
                  "variables": {"i": {"id": deal} | given_}},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=60,
        )  # fmt: skip
        body = response.json()
        # A manual category on a closed deal is refused, and changes nothing: that is fine here too.
        assert "errors" not in body or body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    b = _moment()
    after = _totals(world, pipeline["id"])
    for team, start_total, end_total in zip(world["teams"], before, after, strict=True):
        found = post(base, admin, CHANGES, s={"teamId": team}, p=pipeline["id"], period=PERIOD.key,
                      **{"from": a.isoformat(), "to": b.isoformat()})["forecastChanges"]  # fmt: skip
        assert (found["startTotal"], found["endTotal"]) == (start_total, end_total)
        amounts = [Decimal(s["amount"]) for s in found["steps"]]
        assert sum(amounts) == Decimal(end_total) - Decimal(start_total)
        listed = [e["node"]["id"] for s in found["steps"] for e in s["deals"]["edges"]]
        assert len(listed) == len(set(listed)) == sum(s["dealCount"] for s in found["steps"])
        assert set(listed) <= set(deals)
        for step in found["steps"]:
            if step["dealCount"] == 0:
                assert Decimal(step["amount"]) == 0
