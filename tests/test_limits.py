"""Hardening over HTTP: query limits before execution, request shapes refused, CORS and compression."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from pipecast.app import create_app
from pipecast.settings import Settings
from tests.support import SECRET, data, error_code, graphql, token_for

DASHBOARD = """{ teams(first: 20) { totalCount edges { node { name members(first: 20) { edges { node { name
  deals(first: 20) { totalCount edges { node { name amount stage { label } owner { name %s } } } } } } } } } } }"""


async def _code(client: httpx.AsyncClient, query: str, admin: int) -> tuple[str, str] | None:
    body = (await graphql(client, query, token=token_for(admin))).json()
    if "errors" not in body:
        return None
    return body["errors"][0]["extensions"]["code"], body["errors"][0]["message"]


async def test_depth(client: httpx.AsyncClient, admin: int) -> None:
    assert await _code(client, DASHBOARD % "", admin) is None
    deeper = DASHBOARD % "memberships { team { parent { name } } }"
    code, message = await _code(client, deeper, admin) or ("", "")
    assert code == "BAD_USER_INPUT"
    assert "exceeds maximum operation depth" in message


async def test_aliases_and_tokens(client: httpx.AsyncClient, admin: int) -> None:
    fifteen = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(15)) + " }"
    assert await _code(client, fifteen, admin) is None
    sixteen = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(16)) + " }"
    assert (await _code(client, sixteen, admin) or ("", ""))[1] == "16 aliases found. Allowed: 15"
    many = "{ viewer { " + " ".join(["name"] * 2100) + " } }"
    code, message = await _code(client, many, admin) or ("", "")
    assert code == "BAD_USER_INPUT"
    assert "token" in message.lower()


COSTLY = [
    "{ teams(first: 20) { edges { node { members(first: 200) { edges { node { deals(first: 200) { totalCount } } } } } } } }",
    "{ teams(first: 20) { edges { node { ... on Team { members(first: 200) { edges { node { ... on User { deals(first: 200) { totalCount } } } } } } } } } }",
    "query { teams(first: 20) { ...T } } fragment T on TeamConnection { edges { node { members(first: 200) { ...M } } } } fragment M on UserConnection { edges { node { deals(first: 200) { totalCount } } } }",
    "query($n: Int) { teams(first: 20) { edges { node { members(first: $n) { edges { node { deals(first: $n) { totalCount } } } } } } } }",
]


@pytest.mark.parametrize("query", COSTLY)
async def test_nested_page_cost(client: httpx.AsyncClient, admin: int, query: str) -> None:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"n": 200}},
        headers={"Authorization": f"Bearer {token_for(admin)}"},
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "over the limit of 500,000" in error["message"]


async def test_default_pages_nest_three_deep(client: httpx.AsyncClient, admin: int) -> None:
    """A dashboard written the obvious way, with no page size anywhere, runs (50 × 50 × 50 deals)."""
    query = (
        "{ teams { edges { node { members { edges { node { deals { edges { node { name } } } } } } } } } }"
    )
    assert await _code(client, query, admin) is None


async def test_one_error_per_problem(client: httpx.AsyncClient, admin: int) -> None:
    """An invalid literal is the only error: no page-cost limit is worked out on it."""
    body = (
        await graphql(client, "{ deals(first: 99999999999) { totalCount } }", token=token_for(admin))
    ).json()
    [error] = body["errors"]
    assert error["message"] == "Int cannot represent non 32-bit signed integer value: 99999999999"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{ deals(frist: 1) { totalCount } }", {}, "Unknown argument 'frist' on field 'Query.deals'."),
        ("{ deals(orderBy: NAME_AS) { totalCount } }", {}, "Value 'NAME_AS' does not exist in 'DealOrder' enum."),
        ("query($o: DealOrder) { deals(orderBy: $o) { totalCount } }", {"o": "NAME_AS"},
         "Variable '$o' has invalid value: Value 'NAME_AS' does not exist in 'DealOrder' enum."),
        ("{ viewr { name } }", {}, "Cannot query field 'viewr' on type 'Query'."),
    ],
)  # fmt: skip
async def test_errors_suggest_no_names(
    client: httpx.AsyncClient, admin: int, query: str, variables: dict[str, str], message: str
) -> None:
    """Errors do not describe the schema to whoever probes it: no "Did you mean …?" of any kind."""
    body = (await graphql(client, query, variables, token=token_for(admin))).json()
    assert [e["message"] for e in body["errors"]] == [message]


async def test_cyclic_fragments_are_refused(client: httpx.AsyncClient, admin: int) -> None:
    query = "query { viewer { ...A } } fragment A on User { primaryTeam { members { edges { node { ...B } } } } } fragment B on User { ...A }"
    code, message = await _code(client, query, admin) or ("", "")
    assert code == "BAD_USER_INPUT"
    assert "Cannot spread fragment" in message


async def test_no_introspection_and_no_suggestions_in_production(
    client: httpx.AsyncClient, admin: int
) -> None:
    code, message = await _code(client, "{ __schema { types { name } } }", admin) or ("", "")
    assert code == "BAD_USER_INPUT"
    assert "introspection" in message.lower()
    code, message = await _code(client, "{ viewr { name } }", admin) or ("", "")
    assert "Did you mean" not in message


async def test_request_shapes_that_are_refused(client: httpx.AsyncClient, admin: int) -> None:
    headers = {"Authorization": f"Bearer {token_for(admin)}"}
    for content_type, body in (
        ("application/x-www-form-urlencoded", "query=%7Bviewer%7Bname%7D%7D"),
        ("text/plain", '{"query": "{ viewer { name } }"}'),
        ("multipart/form-data; boundary=x", "--x--"),
    ):
        response = await client.post(
            "/graphql", content=body, headers=headers | {"Content-Type": content_type}
        )
        assert response.status_code == 415, content_type
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    big = '{"query": "{ viewer { name } }", "variables": {"x": "' + "x" * 1_000_100 + '"}}'
    response = await client.post(
        "/graphql", content=big, headers=headers | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    batch = await client.post("/graphql", json=[{"query": "{ viewer { name } }"}] * 2, headers=headers)
    assert batch.status_code == 400
    mutation = await client.get(
        "/graphql", params={"query": "mutation { setDealColumns(columns: []) }"}, headers=headers
    )
    assert mutation.status_code == 405


async def test_responses_over_a_kilobyte_are_compressed(client: httpx.AsyncClient, admin: int) -> None:
    query = "{ " + " ".join(f"a{i}: viewer {{ name email roles }}" for i in range(15)) + " }"
    response = await client.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token_for(admin)}", "Accept-Encoding": "gzip"},
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["data"]["a0"]["name"] == "Astrid Admin"


@pytest.fixture(scope="module")
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, jwt_secret=SECRET, data_dir=Path("/nonexistent"),
                        cors_origins=["https://dash.example.com"])  # fmt: skip
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def test_cors_for_listed_origins_only(
    cors_client: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    listed = await cors_client.options("/graphql", headers=preflight | {"Origin": "https://dash.example.com"})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "https://dash.example.com"
    assert listed.headers["access-control-allow-credentials"] == "true"
    other = await cors_client.options("/graphql", headers=preflight | {"Origin": "https://evil.example.org"})
    assert "access-control-allow-origin" not in other.headers
    default = await client.options("/graphql", headers=preflight | {"Origin": "https://dash.example.com"})
    assert "access-control-allow-origin" not in default.headers


async def test_error_codes_for_graphql_errors(client: httpx.AsyncClient, admin: int) -> None:
    assert await error_code(client, "{ viewer { name ", token=token_for(admin)) == (
        "BAD_USER_INPUT",
        "Syntax Error: Expected Name, found <EOF>.",
    )


async def test_nul_characters_are_refused_before_anything_runs(client: httpx.AsyncClient, admin: int) -> None:
    """Found by the fuzz run: PostgreSQL text cannot hold U+0000, which used to surface as an internal error."""
    token = token_for(admin)
    create = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { name } }"
    for query, variables in (
        (create, {"input": {"name": "Nul\x00Team"}}),
        ('mutation { createTeam(input: {name: "Nul\\u0000Team"}) { name } }', {}),
        ('{ users(search: "a\\u0000") { totalCount } }', {}),
    ):
        code, message = await error_code(client, query, variables, token=token)
        assert (code, "NUL" in message) == ("BAD_USER_INPUT", True)
    teams = await data(client, "{ teams { totalCount } }", token=token)
    assert teams["teams"]["totalCount"] == 0  # nothing was written


DEEP_TAIL = "memberships { team { parent { name } } }"  # three levels below the dashboard's deepest field
THROUGH_FRAGMENTS = {
    "inline": "{ teams(first: 20) { edges { node { ... on Team { members(first: 20) { edges { node { deals(first: 20) { edges { node { owner { ... on User { %s } } } } } } } } } } } } }",
    "named": "query { teams(first: 20) { edges { node { members(first: 20) { edges { node { deals(first: 20) { edges { node { owner { ...O } } } } } } } } } } } fragment O on User { %s }",
    "nested": "query { teams(first: 20) { ...T } } fragment T on TeamConnection { edges { node { members(first: 20) { ...M } } } } fragment M on UserConnection { edges { node { deals(first: 20) { edges { node { owner { ...O } } } } } } } fragment O on User { %s }",
}


@pytest.mark.parametrize("shape", THROUGH_FRAGMENTS)
async def test_depth_counts_through_fragments(client: httpx.AsyncClient, admin: int, shape: str) -> None:
    assert await _code(client, THROUGH_FRAGMENTS[shape] % "name", admin) is None
    code, message = await _code(client, THROUGH_FRAGMENTS[shape] % DEEP_TAIL, admin) or ("", "")
    assert code == "BAD_USER_INPUT"
    assert "exceeds maximum operation depth" in message


@pytest.mark.parametrize(
    "query",
    [
        "{ ... on Query { %s } }",
        "query { ...Q } fragment Q on Query { %s }",
        "query { ...Q } fragment Q on Query { ...R } fragment R on Query { %s }",
    ],
)
async def test_aliases_count_through_fragments(client: httpx.AsyncClient, admin: int, query: str) -> None:
    aliases = " ".join(f"a{i}: viewer {{ name }}" for i in range(16))
    code, message = await _code(client, query % aliases, admin) or ("", "")
    assert (code, message) == ("BAD_USER_INPUT", "16 aliases found. Allowed: 15")
