"""Live updates over real WebSockets against two real server processes on one database (docs/live.md).

Writes go through one process's HTTP API and events are read from the other's WebSocket, so every event
has crossed PostgreSQL's NOTIFY. Who may see what is the demo company's: the admin sees every deal, the
manager EMEA's (Nordics, DACH, UK & Ireland), the rep Nordics' (its team); North America is the admin's
alone.
"""

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text
from strawberry.relay import to_base64

from db.engine import create_engine
from db.users import create_user
from tests.support import SECRET, LiveClient, Served, cli_env, seed_demo, served, token_for

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them

ORIGIN = "https://app.example.com"
PER_CONNECTION, PER_USER, WAITING = 3, 4, 100
DEAL_EVENTS = """
    subscription($filter: DealFilter) {
      dealChanged(filter: $filter) { kind dealId at deal { id name amount owner { id } } }
    }
"""
FORECAST_EVENTS = """
    subscription($pipeline: ID!, $period: Period!, $team: ID) {
      forecastUpdated(pipelineId: $pipeline, period: $period, teamId: $team) {
        period { key } summary { pipelineValue dealCount }
      }
    }
"""
UPDATE = "mutation($input: UpdateDealInput!) { updateDeal(input: $input) { id version } }"


@pytest.fixture(scope="module")
async def company(database_url: str) -> dict[str, Any]:
    people = await seed_demo(database_url)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        pat = await create_user(conn, name="Pat Promoted", email="pat@example.com", sales_seat=True)

        async def first(sql: str) -> Any:
            return await conn.scalar(text(sql))

        member = (
            "SELECT m.user_id FROM team_memberships m JOIN teams t ON t.id = m.team_id"
            " WHERE t.name = '{}' AND m.is_primary AND m.user_id <> {} AND m.role = 'MEMBER'"
            " AND EXISTS (SELECT FROM deals d WHERE d.owner_id = m.user_id) ORDER BY m.user_id LIMIT 1"
        )
        americas = await first(member.format("North America", people["rep"]))
        nordics = await first(member.format("Nordics", people["rep"]))
        deals_of = "SELECT id FROM deals WHERE owner_id = {} ORDER BY id LIMIT 1 OFFSET {}"
        found = {
            "americas": await first(deals_of.format(americas, 0)),
            "nordics": await first(deals_of.format(nordics, 0)),
            "nordics2": await first(deals_of.format(nordics, 1)),
            "pipeline": await first(f"SELECT pipeline_id FROM deals WHERE owner_id = {nordics} LIMIT 1"),
        }
        stages = (
            await conn.execute(
                text(
                    "SELECT id FROM stages WHERE pipeline_id = :p AND state = 'OPEN' ORDER BY display_order"
                ),
                {"p": found["pipeline"]},
            )
        ).scalars()
    await engine.dispose()
    return {
        **people,
        "pat": pat,
        "americas_user": to_base64("User", americas),
        "nordics_user": to_base64("User", nordics),
        **{k: to_base64("Deal", v) for k, v in found.items() if k != "pipeline"},
        "pipeline": to_base64("Pipeline", found["pipeline"]),
        "stages": [to_base64("Stage", s) for s in stages],
    }


@pytest.fixture(scope="module")
def servers(
    database_url: str, company: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Served]]:
    env = cli_env(
        DATABASE_URL=database_url,
        PIPECAST_JWT_SECRET=SECRET,
        PIPECAST_CORS_ORIGINS=ORIGIN,
        PIPECAST_LIVE_PER_CONNECTION=str(PER_CONNECTION),
        PIPECAST_LIVE_PER_USER=str(PER_USER),
        PIPECAST_LIVE_WAITING=str(WAITING),
    )
    logs = tmp_path_factory.mktemp("live")
    with served(env=env, log=logs / "a.log") as a, served(env=env, log=logs / "b.log") as b:
        yield a, b


async def write(server: Served, viewer: int, query: str, **variables: Any) -> dict[str, Any]:
    """An operation's data over HTTP (fails on any error)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{server.base}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token_for(viewer)}"},
        )
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def create_deal(server: Served, admin: int, company: dict[str, Any], name: str, *, owner: str) -> str:
    """A new deal of the demo pipeline's first stage, closing in December, owned by `owner`: its ID."""
    deal = {
        "name": name,
        "pipelineId": company["pipeline"],
        "stageId": company["stages"][0],
        "amount": "10",
        "closeDate": "2026-12-15",
        "ownerId": owner,
    }
    query = "mutation($input: CreateDealInput!) { createDeal(input: $input) { id } }"
    created: str = (await write(server, admin, query, input=deal))["createDeal"]["id"]
    return created


async def move(server: Served, admin: int, deal: str, **changes: Any) -> None:
    await write(server, admin, UPDATE, input={"id": deal, **changes})


async def test_events_reach_the_viewers_allowed_on_every_process(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, b = servers
    admin, manager, rep = company["admin"], company["manager"], company["rep"]
    async with (
        LiveClient.connected(a.base, token_for(manager)) as managers,
        LiveClient.connected(a.base, token_for(rep)) as reps,
        LiveClient.connected(b.base, token_for(admin)) as admins,
    ):
        for client in (managers, reps, admins):
            await client.subscribe("deals", DEAL_EVENTS)
        await asyncio.sleep(0.3)  # the subscriptions are registered
        await move(b, admin, company["americas"], amount="1111")  # North America: the admin's alone
        await move(a, admin, company["nordics"], amount="2222")  # Nordics: everyone's

        seen = await admins.data("deals")
        assert seen["dealChanged"]["dealId"] == company["americas"]
        assert seen["dealChanged"]["kind"] == "UPDATED"
        assert seen["dealChanged"]["deal"]["amount"] == "1111.00"
        assert (await admins.data("deals"))["dealChanged"]["dealId"] == company["nordics"]
        for client in (managers, reps):  # the first event they get is the Nordics deal: never the other
            event = (await client.data("deals"))["dealChanged"]
            assert event["dealId"] == company["nordics"]
            assert event["deal"]["amount"] == "2222.00"
            await client.quiet("deals", 0.5)

        # A created deal is CREATED for whoever may see it.
        created = await create_deal(a, admin, company, "Live one", owner=company["nordics_user"])
        for client in (managers, reps, admins):
            event = (await client.data("deals"))["dealChanged"]
            assert (event["kind"], event["dealId"]) == ("CREATED", created)


async def test_a_reassigned_deal_is_hidden_from_who_no_longer_sees_it(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, b = servers
    admin, manager = company["admin"], company["manager"]
    deal = company["nordics2"]
    async with LiveClient.connected(a.base, token_for(manager)) as managers:
        await managers.subscribe("deals", DEAL_EVENTS)
        await asyncio.sleep(0.3)
        await move(b, admin, deal, amount="3000")
        assert (await managers.data("deals"))["dealChanged"]["kind"] == "UPDATED"

        await move(b, admin, deal, ownerId=company["americas_user"])  # to North America
        hidden = (await managers.data("deals"))["dealChanged"]
        assert hidden["kind"] == "HIDDEN"
        assert hidden["dealId"] == deal
        assert hidden["deal"] is None
        await move(b, admin, deal, amount="3100")  # out of sight: nothing
        await managers.quiet("deals", 0.7)

        await move(b, admin, deal, ownerId=company["nordics_user"])  # back in Nordics
        back = (await managers.data("deals"))["dealChanged"]
        assert back["kind"] == "UPDATED"
        assert back["deal"]["amount"] == "3100.00"


async def test_a_deal_leaving_the_filter_is_hidden(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, b = servers
    admin, rep = company["admin"], company["rep"]
    deal, first, second = company["nordics"], company["stages"][0], company["stages"][1]
    await move(b, admin, deal, stageId=first)
    await asyncio.sleep(0.3)  # that write's event is for subscribers before this one
    async with LiveClient.connected(a.base, token_for(rep)) as reps:
        await reps.subscribe("first", DEAL_EVENTS, filter={"stageIds": [first]})
        await asyncio.sleep(0.3)
        await move(b, admin, deal, amount="4000")
        assert (await reps.data("first"))["dealChanged"]["kind"] == "UPDATED"
        await move(b, admin, deal, stageId=second)
        assert (await reps.data("first"))["dealChanged"]["kind"] == "HIDDEN"
        await move(b, admin, deal, stageId=first)
        assert (await reps.data("first"))["dealChanged"]["kind"] == "UPDATED"


async def test_visibility_follows_a_permission_change_at_once(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    """Pat sees everything as an admin; once demoted to sales_rep (no team: own deals only), a deal of
    North America is no longer sent, and Pat's own is."""
    a, b = servers
    admin, pat = company["admin"], company["pat"]
    roles = "mutation($user: ID!, $role: String!) { %s(userId: $user, role: $role) { id } }"
    pat_id = to_base64("User", pat)
    await write(b, admin, roles % "assignRole", user=pat_id, role="admin")
    own = await create_deal(b, admin, company, "Pat's own", owner=pat_id)
    await asyncio.sleep(0.3)  # both processes have reloaded their policies
    async with LiveClient.connected(a.base, token_for(pat)) as pats:
        await pats.subscribe("deals", DEAL_EVENTS)
        await asyncio.sleep(0.3)
        await move(b, admin, company["americas"], amount="5100")
        assert (await pats.data("deals"))["dealChanged"]["dealId"] == company["americas"]

        await write(b, admin, roles % "unassignRole", user=pat_id, role="admin")
        await write(b, admin, roles % "assignRole", user=pat_id, role="sales_rep")
        await move(b, admin, company["americas"], amount="5200")  # right after the change: out of sight
        await move(b, admin, own, amount="6")
        hidden = (await pats.data("deals"))["dealChanged"]
        assert (hidden["kind"], hidden["dealId"], hidden["deal"]) == ("HIDDEN", company["americas"], None)
        event = (await pats.data("deals"))["dealChanged"]
        assert (event["kind"], event["dealId"]) == ("UPDATED", own)
        await pats.quiet("deals", 0.5)


async def test_forecast_events_are_coalesced_to_one_a_second(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, b = servers
    admin, manager = company["admin"], company["manager"]
    query = (
        "query($p: ID!) { forecast(pipelineId: $p) { period { key } summary { pipelineValue dealCount } } }"
    )
    table = (await write(a, manager, query, p=company["pipeline"]))["forecast"]
    period = table["period"]["key"]
    async with LiveClient.connected(a.base, token_for(manager)) as managers:
        await managers.subscribe("table", FORECAST_EVENTS, pipeline=company["pipeline"], period=period)
        first = (await managers.data("table"))["forecastUpdated"]
        assert first == table  # the table as it stands, as Query.forecast gives it

        started = time.monotonic()
        for amount in range(7000, 7010):  # ten writes in a burst
            await move(b, admin, company["nordics"], amount=str(amount))
        arrivals: list[float] = []
        last: dict[str, Any] = {}
        with_deadline = started + 3.5
        while time.monotonic() < with_deadline:
            try:
                last = (await managers.data("table", within=with_deadline - time.monotonic()))[
                    "forecastUpdated"
                ]
            except TimeoutError:
                break
            arrivals.append(time.monotonic())
        assert 1 <= len(arrivals) <= 4, arrivals
        assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(arrivals))
        assert last == (await write(a, manager, query, p=company["pipeline"]))["forecast"]  # the final state

        # Not only deals: a submission (here the manager's own, on the other process) sends a fresh table.
        await write(
            b,
            manager,
            "mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id } }",
            i={
                "subject": {"userId": to_base64("User", manager)},
                "pipelineId": company["pipeline"],
                "period": period,
                "amount": "1234.00",
            },
        )
        assert "forecastUpdated" in await managers.data("table", within=5)

        # A table the viewer may not see is refused, not sent.
        await managers.subscribe(
            "other", FORECAST_EVENTS, pipeline=company["pipeline"], period=period, team=to_base64("Team", 3)
        )
        refused = await managers.error("other")
        assert refused["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND")


async def test_subscriptions_are_limited_per_connection_and_per_user(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, _ = servers
    token = token_for(company["rep"])
    async with LiveClient.connected(a.base, token) as one, LiveClient.connected(a.base, token) as two:
        for n in range(PER_CONNECTION):
            await one.subscribe(f"s{n}", DEAL_EVENTS)
        await one.subscribe("over", DEAL_EVENTS)
        refused = await one.error("over")
        assert refused["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "per connection" in refused["message"]

        await two.subscribe("fourth", DEAL_EVENTS)  # the user's PER_USER-th on this process
        await two.subscribe("fifth", DEAL_EVENTS)
        refused = await two.error("fifth")
        assert refused["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "per user" in refused["message"]

        await one.complete("s0")  # a finished subscription frees its place
        await asyncio.sleep(0.2)
        await two.subscribe("again", DEAL_EVENTS)
        await two.quiet("again", 0.5)  # no error: it is running


async def test_connections_are_authenticated_and_checked(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, _ = servers
    url = a.base.replace("http://", "ws://") + "/graphql"
    for token in (None, "not-a-token", token_for(company["rep"], secret="another-secret-" + "y" * 40)):
        async with websockets.connect(url, subprotocols=[LiveClient.PROTOCOL]) as socket:
            client = LiveClient(socket)
            await client.init(token)
            assert await client.closed() == (4403, "Forbidden")

    async with websockets.connect(url, subprotocols=[LiveClient.PROTOCOL]) as socket:
        client = LiveClient(socket)
        await client.subscribe("early", DEAL_EVENTS)  # before connection_init
        assert (await client.closed())[0] == 4401

    # An expiring token ends the connection when it expires.
    async with LiveClient.connected(a.base, token_for(company["rep"], ttl=2)) as client:
        await client.subscribe("deals", DEAL_EVENTS)
        started = time.monotonic()
        code, reason = await client.closed(within=10)
        assert code == 4403
        assert "expired" in reason
        assert time.monotonic() - started < 4

    # Ping, pong.
    async with LiveClient.connected(a.base, token_for(company["rep"])) as client:
        await client.socket.send('{"type": "ping"}')
        assert (await client.next(None))["type"] == "pong"

    # Browsers: only the configured origins may open a socket (no cross-site WebSocket hijacking).
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with LiveClient.connected(a.base, token_for(company["rep"]), origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with LiveClient.connected(a.base, token_for(company["rep"]), origin=ORIGIN) as client:
        await client.socket.send('{"type": "ping"}')
        assert (await client.next(None))["type"] == "pong"


async def test_each_transport_carries_its_own_operations(
    servers: tuple[Served, Served], company: dict[str, Any]
) -> None:
    a, _ = servers
    token = token_for(company["rep"])
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{a.base}/graphql",
            json={"query": "subscription { dealChanged { kind } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "WebSocket" in response.json()["errors"][0]["message"]
    async with LiveClient.connected(a.base, token) as client:
        await client.subscribe("q", "{ viewer { name } }")
        assert (await client.error("q"))["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_subscriber_that_cannot_keep_up_is_dropped_not_buffered(
    servers: tuple[Served, Served], company: dict[str, Any], database_url: str
) -> None:
    """A subscriber that does not read while more deals change than its limit (PIPECAST_LIVE_WAITING):
    the events are dropped and its subscription ends with LIMIT_EXCEEDED; the connection carries on."""
    a, b = servers
    async with LiveClient.connected(a.base, token_for(company["admin"]), max_queue=1) as admins:
        admins.reader.cancel()  # nothing reads the socket any more
        await admins.subscribe("deals", DEAL_EVENTS)
        await admins.subscribe("few", DEAL_EVENTS, filter={"ownerIds": [company["nordics_user"]]})
        await asyncio.sleep(0.3)
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:  # every deal at once: far more than WAITING
                await conn.execute(text("UPDATE deals SET next_step = md5(random()::text)"))
        finally:
            await engine.dispose()
        await asyncio.sleep(1)
        admins.reader = asyncio.create_task(admins._read())  # reading again
        dropped = await admins.error("deals", within=20)
        assert dropped["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "subscribe again" in dropped["message"]
        owned = await admins.data("few")  # a filter that holds few deals kept its events
        assert owned["dealChanged"]["kind"] == "UPDATED"
        await admins.socket.send('{"type": "ping"}')
        assert (await admins.next(None))["type"] == "pong"
    await move(b, company["admin"], company["nordics"], amount="8000")  # and the servers are fine
