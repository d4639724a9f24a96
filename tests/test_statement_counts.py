"""SQL statements per request stay the same whatever the data size: no query per row anywhere.

Two databases are seeded at different sizes; every list query is sent to both over HTTP and the
statements the app runs are counted.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from db.engine import create_engine
from db.periods import period_containing
from db.users import user_by_email
from pipecast.app import create_app
from pipecast.seed import SeedPlan, seed
from pipecast.settings import Settings
from tests.conftest import fresh_database
from tests.support import SECRET, data, statements, token_for

QUARTER = period_containing(date.today(), "QUARTER").key
DASHBOARD = (
    "{ teams(first: 20) { totalCount edges { node { name members(first: 20) { edges { node { name"
    f' deals(first: 20, filter: {{period: "{QUARTER}"}}) {{ totalCount edges {{ node {{ name amount'
    " stage { label } owner { name } } } } } } } } } } }"
)
QUERIES = {
    "dashboard": DASHBOARD,
    "users": """{ users(first: 50) { totalCount edges { node { name primaryTeam { name }
      memberships { team { name } user { name } role primary } deals(first: 5) { totalCount edges { node { name } } } } } } }""",
    "teams": """{ teams(first: 50) { totalCount edges { node { name parent { name } children { name }
      managers { name } members(first: 10, includeDescendants: true) { totalCount edges { node { name } } }
      deals(first: 5, orderBy: AMOUNT_DESC) { totalCount edges { node { name amountInCompanyCurrency } } } } } } }""",
    "deals": """{ deals(first: 100, orderBy: CLOSE_DATE_ASC) { totalCount edges { node { name amount currency
      amountInCompanyCurrency weightedAmount probability forecastCategory owner { name primaryTeam { name } }
      stage { label state } pipeline { name stages { label } }
      stageMovement(from: "2026-10-01", to: "2026-11-30") weightedChange(from: "2026-10-01", to: "2026-11-30")
      history(first: 5) { totalCount edges { node { field oldValue newValue actor { name } } } } } } } }""",
    "forecast": """query($p: ID!) { forecast(pipelineId: $p, period: "QUARTER") { team { name } period { key }
      summary { subject { __typename } goal closedWon total categories { category amount count } submission { amount }
        submissionsTotal restricted }
      teams { subject { ... on Team { name } } goal total dealCount submissionsTotal restricted }
      users { subject { ... on User { name } } goal total dealCount submission { amount submittedBy { name } } restricted } } }""",
    "team rows": """query($p: ID!) { teams(first: 50) { edges { node { name forecast(pipelineId: $p, period: "QUARTER") {
      goal closedWon total dealCount submissionsTotal restricted }
      goals(pipelineId: $p) { amount setBy { name } } } } } }""",
    "user rows": """query($p: ID!) { users(first: 100) { edges { node { name forecast(pipelineId: $p, period: "QUARTER") {
      goal closedWon total dealCount submission { amount } accuracy restricted }
      goals(pipelineId: $p) { amount } submissions(pipelineId: $p, first: 3) { totalCount edges { node { amount } } } } } } }""",
    # Separate documents: the rows' open deals are read on a connection of their own while the rest runs,
    # so beside other fields a loader's batch may be sent in two ticks (a statement more, never per row).
    "predictions": """query($p: ID!) { forecast(pipelineId: $p, period: "QUARTER") {
      summary { prediction { p10 p50 p90 expected openDeals basis } } teams { prediction { p50 } }
      users { prediction { p10 p90 } } } }""",
    "prediction rows": """query($p: ID!) { teams(first: 50) { edges { node {
      forecast(pipelineId: $p, period: "QUARTER") { prediction { p50 } } } } } }""",
    "outcome rates": "{ pipelines { outcomeRates { stage { label } winRate slipRate observed } } }",
    "pipelines": """{ pipelines { name periodKind currentPeriod { key start end } stages { label probability } }
      settings { currency } exchangeRates { currency rate } viewer { name dealColumns } }""",
}
BUDGET = {"dashboard": 8}


@dataclass
class Company:
    app: Starlette
    client: httpx.AsyncClient
    tokens: dict[str, str]


async def _company(server_url: str, template: str, plan: SeedPlan) -> AsyncIterator[Company]:
    url = await fresh_database(server_url, template)
    engine = create_engine(url)
    async with engine.begin() as conn:
        await seed(conn, plan)
    async with engine.connect() as conn:
        admin = await user_by_email(conn, "admin@example.com")
        manager = await user_by_email(conn, "user2@example.com")  # manages a region and its sub-teams
    await engine.dispose()
    assert admin is not None
    assert manager is not None
    app = create_app(Settings(database_url=url, jwt_secret=SECRET, data_dir=Path("/nonexistent")))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pipecast.test") as client,
    ):
        yield Company(app, client, {"admin": token_for(admin.id), "manager": token_for(manager.id)})


@pytest.fixture(scope="module")
async def small(server_url: str, template_database: str) -> AsyncIterator[Company]:
    async for company in _company(server_url, template_database, SeedPlan(teams=4, users=12, deals=400)):
        yield company


@pytest.fixture(scope="module")
async def large(server_url: str, template_database: str) -> AsyncIterator[Company]:
    async for company in _company(server_url, template_database, SeedPlan(teams=30, users=150, deals=8000)):
        yield company


async def _count(company: Company, query: str, viewer: str) -> tuple[int, object]:
    token = company.tokens[viewer]
    variables = {}
    if "$p" in query:
        pipelines = await data(company.client, "{ pipelines { id } }", token=token)
        variables = {"p": pipelines["pipelines"][0]["id"]}
        query = query.replace('"QUARTER"', f'"{QUARTER}"')
    lookups = company.app.state.policies.lookups
    with statements(company.app.state.engine) as seen:
        result = await data(company.client, query, variables, token=token)
    assert company.app.state.policies.lookups == lookups + 1  # one grant lookup per request
    return len(seen), result


@pytest.mark.parametrize("viewer", ["admin", "manager"])
@pytest.mark.parametrize("name", list(QUERIES))
async def test_statements_do_not_grow_with_the_data(
    name: str, viewer: str, small: Company, large: Company
) -> None:
    small_count, small_result = await _count(small, QUERIES[name], viewer)
    large_count, large_result = await _count(large, QUERIES[name], viewer)
    if name not in ("pipelines", "outcome rates"):  # the same pipeline at both sizes; the rest grows
        assert small_result != large_result
    assert small_count == large_count, (small_count, large_count)
    assert small_count <= BUDGET.get(name, 15)
    print(f"{name} as {viewer}: {small_count} statements at both sizes")
