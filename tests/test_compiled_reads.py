"""The compiled read path answers exactly what field-by-field execution answers, byte for byte.

Two real `pipecast serve` processes share one database: one compiles reads (the default), the other has
PIPECAST_COMPILED_READS=false. Every document of a corpus — the benchmark's workloads, the statement-count
queries, a document per field the compiled path serves, every order paged through by cursor, refusals —
and documents Hypothesis generates (aliases, merged fields, inline and named fragments, @include/@skip,
page sizes 0/1/200, filters, orders) is sent to both, as an ALL, a TEAM, an OWN and an OWN+unassigned
viewer, with the same request id; the bodies must be identical, and the compiled server must report the
compiled path wherever the document is one it serves (X-Pipecast-Read-Path).

The data has what breaks naive SQL JSON: half-cent amounts in company currency (half-even rounding),
four currencies with dated and future rates, unassigned deals, close dates on period edges, probability
overrides of 0 and 1, manual categories, recorded history, and names with quotes, backslashes, tabs,
newlines, non-ASCII letters and emoji.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bench.workloads import DASHBOARD, FORECAST, HOME
from db.engine import create_engine
from tests.builders import Api
from tests.support import SECRET, cli_env, data, served, token_for
from tests.test_statement_counts import QUERIES as STATEMENT_COUNT_QUERIES

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them

PERIOD = "2026-Q4"
AMOUNTS = ["0.01", "0.03", "0.05", "100.05", "1234567.89", "0.00", "999.99", "10.10"]
CURRENCIES = [None, "EUR", "GBP", "SEK"]
CLOSES = ["2026-10-01", "2026-12-31", "2027-01-01", "2026-09-30", "2026-11-15", "2026-10-01"]
STAGES = ["Appointment scheduled", "Qualified to buy", "Presentation scheduled", "Decision maker bought-in",
          "Contract sent", "Closed won", "Closed lost"]  # fmt: skip
NAMES = ["Zoë O'Brien", 'Quote "Q" Quinn', "Back\\slash Bob", "Tab\tTina", "Line\nLars", "🚀 Rocket Rita"]


@dataclass
class World:
    compiled: str
    executed: str
    tokens: dict[str, str]
    ids: dict[str, str]


@pytest.fixture(scope="module")
async def company(client: httpx.AsyncClient, admin: int, database_url: str) -> dict[str, str]:
    """A company built through the API: the ids of its pipelines, teams, users and one hidden deal."""
    api = Api(client, token_for(admin))
    for currency, rate, since in (("EUR", "1.40", "2019-01-01"), ("EUR", "1.50", "2020-01-01"),
                                  ("EUR", "2.00", "2099-01-01"), ("GBP", "0.50", "2020-01-01"),
                                  ("SEK", "0.09", "2020-01-01")):  # fmt: skip
        await api.rate(currency, rate, since)
    main = await api.pipeline("Main")
    await api.pipeline("Monthly", periodKind="MONTH")
    root = await api.team("Sales ☂")
    alpha = await api.team('Alpha "quoted"', root)
    alpha1 = await api.team("Alpha-1 \\ back", alpha)
    beta = await api.team("Beta\ttab", root)
    await api.team("Zeta lone")
    ids = {"pipeline": main["id"], "root": root, "alpha": alpha, "alpha1": alpha1, "beta": beta}
    ids["mgr"] = await api.user(NAMES[0], "mgr@example.com", roles=["sales_manager"])
    ids["rep1"] = await api.user(NAMES[1], "rep1@example.com", roles=["sales_rep"])
    ids["rep2"] = await api.user(NAMES[2], "rep2@example.com", roles=["sales_rep"])
    ids["rep3"] = await api.user(NAMES[3], "rep3@example.com", roles=["sales_rep"])
    ids["noseat"] = await api.user(NAMES[4], "noseat@example.com", seat=False, roles=["sales_rep"])
    ids["own"] = await api.user(NAMES[5], "own@example.com")
    ids["ownun"] = await api.user("Una Unassigned", "ownun@example.com")
    await api.member(alpha, ids["mgr"], role="MANAGER")
    await api.member(alpha1, ids["rep1"])
    await api.member(beta, ids["rep2"])
    await api.member(alpha1, ids["rep2"], primary=False)
    await api.member(alpha1, ids["noseat"])
    await api.member(beta, ids["own"])
    grant = 'mutation($s: String!, $u: Boolean) { setPermission(input: {subject: $s, resource: "deal", action: "view", scope: OWN, unassigned: $u}) { scope } }'
    forecasts = 'mutation($s: String!) { setPermission(input: {subject: $s, resource: "forecast", action: "view", scope: OWN}) { scope } }'
    for key, unassigned in (("own", False), ("ownun", True)):
        await api.run(grant, s=f"user:{ids[key]}", u=unassigned)
        await api.run(forecasts, s=f"user:{ids[key]}")
    owners = ["mgr", "rep1", "rep2", "rep3", "noseat", "own", "ownun", None]
    deals = []
    for n, (owner, amount) in enumerate(itertools.product(owners, AMOUNTS[:6])):
        stage = STAGES[n % len(STAGES)]
        fields: dict[str, Any] = {"name": f"{NAMES[n % len(NAMES)]} deal {n} 100%_off"}
        if owner:
            fields["ownerId"] = ids[owner]
        if CURRENCIES[n % 4]:
            fields["currency"] = CURRENCIES[n % 4]
        if n % 5 == 0 and stage not in ("Closed won", "Closed lost"):
            fields["forecastCategory"] = "COMMIT"
        if n % 7 == 1:
            fields["probability"] = [0.05, 0.5, 1.0, 0.0][n % 4]
        if n % 3 == 0:
            fields["nextStep"] = 'Call "the CFO"\nthen\tsign'
        deals.append(await api.deal(main, stage, amount, CLOSES[n % len(CLOSES)], **fields))
    update = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id } }"
    stages = main["stages"]
    for deal in deals[:12]:
        await api.run(update, i={"id": deal, "stageId": stages["Contract sent"], "amount": "77.77"})
        await api.run(update, i={"id": deal, "ownerId": ids["rep3"], "closeDate": "2026-12-30"})
    # History in the past: the deals existed before the quarter, and their recorded changes fall inside
    # it at two dates (the signals compare the deal at a range's start and at its end).
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE deals SET created_at = '2026-09-01T12:00:00Z'"))
        await conn.execute(
            text("UPDATE deal_changes SET at = CASE WHEN id % 2 = 0 THEN timestamptz '2026-10-15T09:00:00Z' "
                 "ELSE timestamptz '2026-11-20T09:00:00Z' END")
        )  # fmt: skip
    await engine.dispose()
    ids["hidden"] = deals[-1]  # unassigned: hidden from everyone but the admin and OWN+unassigned
    ids["deal"] = deals[3]
    ids["stage"] = stages["Qualified to buy"]
    return ids


@pytest.fixture(scope="module")
def world(
    database_url: str, company: dict[str, str], admin: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    env = cli_env(
        DATABASE_URL=database_url,
        PIPECAST_JWT_SECRET=SECRET,
        PIPECAST_REPORT_STATEMENTS="true",
        PIPECAST_INTROSPECTION="true",
    )
    logs = tmp_path_factory.mktemp("compiled")
    with (
        served(env=env, log=logs / "compiled.log") as compiled,
        served(env=env | {"PIPECAST_COMPILED_READS": "false"}, log=logs / "executed.log") as executed,
    ):
        from strawberry.relay import from_base64  # noqa: PLC0415

        def token(key: str) -> str:
            return token_for(int(from_base64(company[key])[1]))

        tokens = {
            "ALL": token_for(admin),
            "TEAM": token("mgr"),
            "OWN": token("own"),
            "OWN+unassigned": token("ownun"),
        }
        yield World(compiled.base, executed.base, tokens, company)


def _post(base: str, token: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers={
            "Authorization": f"Bearer {token}",
            "X-Request-Id": "differential",
            "Accept-Encoding": "identity",
        },
        timeout=30,
    )


def both(world: World, viewer: str, query: str, variables: dict[str, Any] | None = None) -> tuple[bytes, str]:
    """The one body both servers answer (asserted identical) and the compiled server's read path."""
    variables = {"period": PERIOD, "p": world.ids["pipeline"], "t": world.ids["root"]} | (variables or {})
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    compiled = _post(world.compiled, world.tokens[viewer], query, used)
    executed = _post(world.executed, world.tokens[viewer], query, used)
    assert executed.headers.get("x-pipecast-read-path", "executed") == "executed"
    assert (compiled.status_code, compiled.content) == (executed.status_code, executed.content), (
        viewer,
        query,
        compiled.content[:2000],
        executed.content[:2000],
    )
    return compiled.content, compiled.headers.get("x-pipecast-read-path", "")


VIEWERS = ["ALL", "TEAM", "OWN", "OWN+unassigned"]

DEAL_FIELDS = """id name amount currency probability forecastCategory forecastCategoryIsManual closeDate createdAt
  updatedAt nextStep version amountInCompanyCurrency weightedAmount __typename"""
USER_FIELDS = "id name email active salesSeat __typename"
TEAM_FIELDS = "id name __typename"
STAGE_FIELDS = "id label displayOrder probability state forecastCategory __typename"

# Documents the compiled path serves, one or more per field it covers.
SERVED = {
    "bench dashboard": DASHBOARD,
    "bench mobile home": HOME,
    "bench forecast table": FORECAST,
    "every deal field": f"""{{ deals(first: 200) {{ totalCount __typename edges {{ __typename cursor node {{ {DEAL_FIELDS}
        owner {{ {USER_FIELDS} primaryTeam {{ name parent {{ name }} }} }} stage {{ {STAGE_FIELDS} }}
        pipeline {{ id name periodKind forecastAmount currentPeriod {{ key kind start end __typename }} stages {{ label }} }} }} }}
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor __typename }} }} }}""",
    "history": """{ deals(first: 30, orderBy: UPDATED_DESC) { edges { node { name history(first: 3) { totalCount
        edges { cursor node { at actor { name } field oldValue newValue __typename } } pageInfo { hasNextPage endCursor } } } } } }""",
    "teams": f"""{{ teams(first: 50) {{ totalCount edges {{ node {{ {TEAM_FIELDS} parent {{ name }} children {{ name children {{ name }} }}
        managers {{ {USER_FIELDS} }} members(first: 50, includeDescendants: true) {{ totalCount edges {{ node {{ name }} }} }}
        direct: members {{ totalCount edges {{ node {{ name }} }} }}
        deals(first: 5, orderBy: AMOUNT_DESC) {{ totalCount edges {{ node {{ name amountInCompanyCurrency owner {{ name }} }} }} }} }} }} }} }}""",
    "roots": "{ teams(rootsOnly: true) { totalCount edges { node { name } } } }",
    "users": f"""{{ users(first: 200) {{ totalCount edges {{ node {{ {USER_FIELDS} primaryTeam {{ name }}
        memberships {{ role primary team {{ name }} user {{ name }} __typename }}
        deals(first: 3, orderBy: NAME_ASC) {{ totalCount edges {{ node {{ name }} }} }} }} }} }} }}""",
    "user search": r"""query($t: ID!) { a: users(search: "o'b") { totalCount edges { node { name } } }
        b: users(search: "100%_") { totalCount } c: users(withoutTeam: true) { edges { node { name } } }
        d: users(teamId: $t) { edges { node { name } } } }""",
    "viewer": f"""query($p: ID!, $period: Period!) {{ viewer {{ {USER_FIELDS} primaryTeam {{ name }} memberships {{ role team {{ name }} }}
        forecast(pipelineId: $p, period: $period) {{ goal closedWon total restricted }}
        deals(first: 2) {{ totalCount pageInfo {{ hasNextPage }} edges {{ node {{ name }} }} }} }} }}""",
    "pipelines and settings": """{ pipelines { id name periodKind forecastAmount currentPeriod { key start end } stages { id label probability } }
        settings { currency fiscalYearStartMonth } exchangeRates { currency rate validFrom __typename } __typename }""",
    "node of each type": """query($deal: ID!, $user: ID!, $team: ID!, $pipe: ID!, $stage: ID!, $hidden: ID!) {
        d: node(id: $deal) { id __typename ... on Deal { name amount owner { name } } }
        u: node(id: $user) { id ... on User { name email } } t: node(id: $team) { ... on Team { name parent { name } } }
        p: node(id: $pipe) { ... on Pipeline { name } } s: node(id: $stage) { ... on Stage { label } }
        h: node(id: $hidden) { id ... on Deal { name } } }""",
    "filters": """query($p: ID!, $t: ID!, $stage: ID!, $user: ID!) {
        a: deals(first: 200, filter: {pipelineId: $p, period: "2026-Q4"}) { totalCount edges { node { name closeDate } } }
        b: deals(filter: {stageIds: [$stage], forecastCategories: [COMMIT, PIPELINE]}) { totalCount edges { node { name } } }
        c: deals(filter: {ownerIds: [$user], state: OPEN}) { totalCount }
        d: deals(filter: {teamId: $t, closeDateFrom: "2026-10-01", closeDateTo: "2026-12-31"}) { totalCount edges { node { name } } }
        e: deals(filter: {search: "100%_off", state: WON}) { totalCount edges { node { name } } }
        f: deals(filter: {period: "2026-Q4", closeDateFrom: "2026-12-01"}, orderBy: CLOSE_DATE_DESC) { edges { node { closeDate } } } }""",
    "sizes": """{ a: deals(first: 0) { totalCount edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
        b: deals(first: 1) { edges { cursor } pageInfo { hasNextPage endCursor } }
        c: deals(first: 200, orderBy: AMOUNT_ASC) { edges { cursor node { amountInCompanyCurrency } } pageInfo { startCursor endCursor } } }""",
    "signals": """{ deals(first: 40) { edges { node { name
        q: stageMovement(from: "2026-10-01", to: "2026-12-31") qw: weightedChange(from: "2026-10-01", to: "2026-12-31")
        n: stageMovement(from: "2026-11-01", to: "2026-11-30") nw: weightedChange(from: "2026-11-01", to: "2026-11-30")
        s: stageMovement(from: "2026-08-01", to: "2026-12-31") } } } }""",
    "predictions": """query($p: ID!, $period: Period!) { forecast(pipelineId: $p, period: $period) {
        summary { closedWon ...P } teams { prediction { p50 openDeals } } users { prediction { p10 p90 } } }
        viewer { forecast(pipelineId: $p, period: $period) { prediction { p50 basis } } } }
        fragment P on ForecastRow { prediction { p10 p50 p90 expected openDeals basis } }""",
    "aliases, fragments, directives": """query($yes: Boolean!, $no: Boolean!) { ...Q
        deals(first: 3) { edges { node { ...D name n: name ... on Deal { amount @include(if: $yes) currency @skip(if: $yes) } } } }
        again: deals(first: 3) @include(if: $no) { totalCount } }
        fragment Q on Query { viewer { name } teams(first: 2) { edges { node { ... on Team { name } } } } }
        fragment D on Deal { id stage { ...S } owner { name @skip(if: $no) } }
        fragment S on Stage { label state }""",
}
# Documents with a field the compiled path does not write: answered by the executor, whole.
EXECUTED = {
    "roles": "{ viewer { name roles } }",
    "outcome rates": "{ pipelines { outcomeRates { stage { label } winRate slipRate observed } } }",
    "team forecast rows": 'query($p: ID!) { teams { edges { node { forecast(pipelineId: $p, period: "2026-Q4") { total } } } } }',
    "introspection": '{ __typename a: __type(name: "Deal") { name } }',
}
REFUSED = {
    "a reversed range": '{ deals(first: 3) { edges { node { stageMovement(from: "2026-12-31", to: "2026-10-01") } } } }',
    "a foreign ID": '{ deals(filter: {pipelineId: "VXNlcjox"}) { totalCount } }',
    "a bad cursor": '{ deals(after: "nope") { totalCount } }',
    "a page too large": "{ deals(first: 201) { totalCount } }",
    "a bad period": '{ deals(filter: {period: "2026-13"}) { totalCount } }',
    "a hidden team's table": 'query($p: ID!) { forecast(pipelineId: $p, period: "2026-Q4", teamId: "VGVhbTo5OTk=") { summary { total } } }',
}


def _variables(world: World) -> dict[str, Any]:
    ids = world.ids
    return {"yes": True, "no": False, "deal": ids["deal"], "user": ids["rep1"], "team": ids["alpha1"],
            "pipe": ids["pipeline"], "stage": ids["stage"], "hidden": ids["hidden"]}  # fmt: skip


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("name", list(SERVED))
def test_served_documents_are_compiled_and_identical(world: World, name: str, viewer: str) -> None:
    body, path = both(world, viewer, SERVED[name], _variables(world))
    # A refusal (the forecast of a team outside the viewer's reach) is the executor's to write.
    assert path == "compiled" or (b'"errors"' in body and path == "executed"), name


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("name", list(EXECUTED))
def test_other_documents_fall_back_whole(world: World, name: str, viewer: str) -> None:
    _, path = both(world, viewer, EXECUTED[name])
    assert path == "executed", name


@pytest.mark.parametrize("name", list(REFUSED))
def test_refusals_keep_their_codes_and_wording(world: World, name: str) -> None:
    body, _ = both(world, "TEAM", REFUSED[name])
    assert b'"errors"' in body


@pytest.mark.parametrize("name", list(STATEMENT_COUNT_QUERIES))
def test_the_statement_count_queries(world: World, name: str) -> None:
    for viewer in VIEWERS:
        both(world, viewer, STATEMENT_COUNT_QUERIES[name].replace('"QUARTER"', f'"{PERIOD}"'))


@pytest.mark.parametrize(
    "order", ["CLOSE_DATE_ASC", "CLOSE_DATE_DESC", "AMOUNT_ASC", "AMOUNT_DESC", "NAME_ASC", "UPDATED_DESC"]
)
def test_paging_through_every_order_by_cursor(world: World, order: str) -> None:
    query = f"""query($after: String) {{ deals(first: 7, after: $after, orderBy: {order}) {{ totalCount
      edges {{ cursor node {{ name amountInCompanyCurrency }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"""
    import orjson  # noqa: PLC0415

    for viewer in ("ALL", "OWN+unassigned"):
        after, pages = None, 0
        while True:
            body, path = both(world, viewer, query, {"after": after})
            assert path == "compiled"
            page = orjson.loads(body)["data"]["deals"]
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert pages >= (2 if viewer == "ALL" else 1)


# Generated documents


DEAL_SCALARS = DEAL_FIELDS.split()
USER_SCALARS = USER_FIELDS.split()
OBJECTS: dict[str, dict[str, str]] = {
    "Deal": {"owner": "User", "stage": "Stage", "pipeline": "Pipeline"},
    "User": {"primaryTeam": "Team"},
    "Team": {"parent": "Team"},
    "Stage": {},
    "Pipeline": {},
    "TeamMembership": {"team": "Team", "user": "User"},
}
SCALARS = {
    "Deal": DEAL_SCALARS,
    "User": USER_SCALARS,
    "Team": TEAM_FIELDS.split(),
    "Stage": STAGE_FIELDS.split(),
    "Pipeline": ["id", "name", "periodKind", "forecastAmount"],
    "TeamMembership": ["role", "primary", "__typename"],
}
LISTS = {
    "User": {"memberships": "TeamMembership"},
    "Team": {"children": "Team", "managers": "User"},
    "Pipeline": {"stages": "Stage"},
}
CONNECTIONS = {"User": {"deals": "Deal"}, "Team": {"deals": "Deal", "members": "User"}}
FILTERS = ['{period: "2026-Q4"}', "{state: OPEN}", '{search: "deal 1"}', "{forecastCategories: [COMMIT]}",
           '{closeDateFrom: "2026-10-01", closeDateTo: "2026-10-31"}', "{teamId: $t}", "{pipelineId: $p}"]  # fmt: skip
ORDERS = ["CLOSE_DATE_ASC", "CLOSE_DATE_DESC", "AMOUNT_ASC", "AMOUNT_DESC", "NAME_ASC", "UPDATED_DESC"]


@st.composite
def _field_of(draw: st.DrawFn, type_name: str, depth: int, aliases: list[int]) -> str:
    choices = (
        ["scalar"]
        + ["object"] * bool(OBJECTS[type_name] and depth)
        + ["list"] * bool(LISTS.get(type_name) and depth)
        + ["connection"] * bool(CONNECTIONS.get(type_name) and depth)
    )
    kind = draw(st.sampled_from(choices))
    alias = ""
    if draw(st.integers(0, 4)) == 0 and len(aliases) < 12:
        aliases.append(1)
        alias = f"a{len(aliases)}: "
    directive = draw(
        st.sampled_from(["", "", "", " @include(if: $yes)", " @skip(if: $yes)", " @include(if: $no)"])
    )
    if kind == "scalar":
        return alias + draw(st.sampled_from(SCALARS[type_name])) + directive
    if kind == "object":
        name, target = draw(st.sampled_from(sorted(OBJECTS[type_name].items())))
        return f"{alias}{name}{directive} {{ {draw(_selection(target, depth - 1, aliases))} }}"
    if kind == "list":
        name, target = draw(st.sampled_from(sorted(LISTS[type_name].items())))
        return f"{alias}{name}{directive} {{ {draw(_selection(target, depth - 1, aliases))} }}"
    name, target = draw(st.sampled_from(sorted(CONNECTIONS[type_name].items())))
    return (
        alias
        + name
        + draw(_connection_arguments(target, nested=True))
        + directive
        + draw(_connection_body(target, depth - 1, aliases))
    )


@st.composite
def _selection(draw: st.DrawFn, type_name: str, depth: int, aliases: list[int]) -> str:
    fields = draw(st.lists(_field_of(type_name, depth, aliases), min_size=1, max_size=4))
    if draw(st.booleans()):
        fields.append("__typename")
    if draw(st.integers(0, 3)) == 0:
        fields = [f"... on {type_name} {{ {' '.join(fields)} }}"]
    return " ".join(fields)


@st.composite
def _connection_arguments(draw: st.DrawFn, target: str, *, nested: bool) -> str:
    arguments = []
    first = draw(st.sampled_from([None, 0, 1, 3] if nested else [None, 0, 1, 2, 200]))
    if first is not None:
        arguments.append(f"first: {first}")
    if target == "Deal":
        if draw(st.booleans()):
            arguments.append(f"orderBy: {draw(st.sampled_from(ORDERS))}")
        if draw(st.booleans()):
            arguments.append(f"filter: {draw(st.sampled_from(FILTERS))}")
    elif target == "User" and nested and draw(st.booleans()):
        arguments.append(f"includeDescendants: {draw(st.sampled_from(['true', 'false']))}")
    return f"({', '.join(arguments)})" if arguments else ""


@st.composite
def _connection_body(draw: st.DrawFn, target: str, depth: int, aliases: list[int]) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append("totalCount")
    if draw(st.booleans()) or not parts:
        edge = ["cursor"] * draw(st.booleans()) + [f"node {{ {draw(_selection(target, depth, aliases))} }}"]
        parts.append(f"edges {{ {' '.join(edge)} }}")
    if draw(st.booleans()):
        parts.append(
            f"pageInfo {{ {' '.join(draw(st.lists(st.sampled_from(['hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor']), min_size=1, max_size=4, unique=True)))} }}"
        )
    return " { " + " ".join(parts) + " }"


@st.composite
def documents(draw: st.DrawFn) -> str:
    aliases: list[int] = []
    roots = []
    for n in range(draw(st.integers(1, 2))):
        root = draw(st.sampled_from(["deals", "teams", "users", "viewer", "node"]))
        key = f"r{n}: "
        if root == "viewer":
            roots.append(f"{key}viewer {{ {draw(_selection('User', 2, aliases))} }}")
        elif root == "node":
            roots.append(
                f"{key}node(id: $deal) {{ id ... on Deal {{ {draw(_selection('Deal', 2, aliases))} }} }}"
            )
        else:
            target = {"deals": "Deal", "teams": "Team", "users": "User"}[root]
            roots.append(
                key
                + root
                + draw(_connection_arguments(target, nested=False))
                + draw(_connection_body(target, 2, aliases))
            )
    body = " ".join(roots)
    if draw(st.booleans()):
        return f"query($yes: Boolean!, $no: Boolean!, $deal: ID!, $p: ID!, $t: ID!) {{ ...Root }} fragment Root on Query {{ {body} }}"
    return f"query($yes: Boolean!, $no: Boolean!, $deal: ID!, $p: ID!, $t: ID!) {{ {body} }}"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents(), viewer=st.sampled_from(VIEWERS))
def test_generated_documents_are_compiled_and_identical(world: World, document: str, viewer: str) -> None:
    body, path = both(world, viewer, document, _variables(world))
    if b'"errors"' not in body:
        assert path == "compiled", document


def test_the_same_document_compiles_once(world: World) -> None:
    """A document's plan is cached: the second request answers from it (and the same bytes)."""
    first, _ = both(world, "ALL", SERVED["teams"])
    second, path = both(world, "ALL", SERVED["teams"])
    assert (first, path) == (second, "compiled")


async def test_the_compiled_path_reads_in_one_statement(
    client: httpx.AsyncClient, app: Any, company: dict[str, str], admin: int
) -> None:
    """Through the in-process app: the dashboard is the viewer read plus ONE statement."""
    from tests.support import statements  # noqa: PLC0415

    with statements(app.state.engine) as seen:
        await data(client, DASHBOARD, {"period": PERIOD}, token=token_for(admin))
    assert len(seen) == 2, seen
