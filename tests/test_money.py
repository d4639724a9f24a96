"""Money is exact (DESIGN.md: NUMERIC and Decimal end to end): properties of the Decimal scalar and of
amount validation, and amounts that come back over HTTP exactly as they were sent."""

import contextlib
import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from strawberry.relay import to_base64

from db.engine import create_engine
from resolvers import validation
from resolvers.errors import BadUserInput
from schema.scalars import parse_decimal as parse
from tests.support import SECRET, cli_env, seed_demo, served, token_for

LIMIT = Decimal(10) ** 13
amounts = st.decimals(min_value=0, max_value=LIMIT - Decimal("0.01"), places=2)


def _representable(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return value.is_finite() and 0 <= value < LIMIT and isinstance(exponent, int) and exponent >= -2


@given(amounts, st.sampled_from(["{}", " {} ", "{}\n"]))
def test_amounts_parse_exactly(amount: Decimal, layout: str) -> None:
    parsed = validation.money(parse(layout.format(amount)))
    assert parsed == amount
    assert str(parsed) == str(amount)  # not even a trailing zero is lost or invented


@given(st.integers(min_value=0, max_value=int(LIMIT) - 1))
def test_json_integers_are_amounts(amount: int) -> None:
    assert validation.money(parse(amount)) == amount


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_json_floats_are_read_by_their_shortest_decimal(number: float) -> None:
    assert parse(number) == Decimal(repr(number))  # never 0.1000000000000000055511151231257827


@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_validation_accepts_exactly_the_representable_amounts(value: Decimal) -> None:
    if _representable(value):
        assert validation.money(value) == value
    else:
        with pytest.raises(BadUserInput, match=re.escape(str(value))):  # it names what was sent
            validation.money(value)


@given(st.one_of(st.text(max_size=40), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_anything_else_is_a_decimal_or_a_clear_refusal(value: object) -> None:
    parsed = None
    with contextlib.suppress(BadUserInput):
        parsed = parse(value)
    if parsed is None:
        with pytest.raises(BadUserInput, match=r"is not a (decimal|finite) number"):
            parse(value)
    else:
        assert isinstance(value, str)
        assert parsed.is_finite()
        assert parsed == Decimal(value.strip())


# Over HTTP: a real server, the demo company, setGoal and the amount it answers.


@pytest.fixture(scope="module")
async def company(database_url: str) -> dict[str, str]:
    people = await seed_demo(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        pipeline = await conn.scalar(text("SELECT id FROM pipelines ORDER BY id LIMIT 1"))
    await engine.dispose()
    return {
        "token": token_for(people["admin"]),
        "rep": to_base64("User", people["rep"]),
        "pipeline": to_base64("Pipeline", pipeline),
    }


@pytest.fixture(scope="module")
def base(
    database_url: str, company: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    with served(env=env, log=tmp_path_factory.mktemp("money") / "serve.log") as running:
        yield running.base


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=amounts, as_number=st.booleans())
def test_a_goal_comes_back_exactly_as_set(
    base: str, company: dict[str, str], amount: Decimal, as_number: bool
) -> None:
    sent: object = int(amount) if as_number and amount == int(amount) else str(amount)
    goal = {"subject": {"userId": company["rep"]}, "pipelineId": company["pipeline"], "period": "2026-Q4"}
    response = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($i: SetGoalInput!) { setGoal(input: $i) { amount } }",
            "variables": {"i": goal | {"amount": sent}},
        },
        headers={"Authorization": f"Bearer {company['token']}"},
        timeout=10,
    )
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert body["data"]["setGoal"]["amount"] == f"{amount:.2f}"
