"""GraphQL over HTTP: the graphql-http audit suite against a live server, and the media types it checks.

The audit is the npm package graphql-http (pinned in tests/http_audit/package-lock.json), run with
Node.js against a real `pipecast serve`. Its variable audits query `__type`, so the server under audit has
introspection on; in production introspection is off and those four audits are refused by design.
"""

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from db.engine import create_engine
from db.users import create_user
from tests.support import SECRET, cli_env, served, token_for

AUDIT = Path(__file__).parent / "http_audit"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def _node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("the GraphQL-over-HTTP audit needs Node.js 20 or newer with npm on PATH")
    return node, npm


@pytest.fixture(scope="module")
def audit_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET, PIPECAST_INTROSPECTION="true")
    with served(env=env, log=tmp_path_factory.mktemp("audit") / "serve.log") as running:
        yield f"{running.base}/graphql"


@pytest.fixture(scope="module")
async def auditor(database_url: str) -> int:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        user = await create_user(conn, name="Audra Auditor", email="audra@example.com", sales_seat=True)
    await engine.dispose()
    return user


@pytest.mark.slow  # a served process and the npm audit suite
def test_graphql_http_audit_suite_passes(audit_server: str, auditor: int) -> None:
    node, npm = _node_tools()
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=AUDIT, check=True, timeout=300
        )
    ran = subprocess.run(
        [node, "audit.mjs", audit_server, token_for(auditor)],
        cwd=AUDIT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(ran.stdout)
    assert len(results) >= 60  # the suite really ran: 61 audits in graphql-http 1.23
    failed = [f"{r['id']} {r['status']}: {r['name']} — {r['reason']}" for r in results if r["status"] != "ok"]
    assert failed == []  # every MUST, SHOULD and MAY audit


async def _post(
    client: httpx.AsyncClient, query: str, token: str, accept: str, **variables: object
) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "Accept": accept},
    )


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ viewer {", {}),  # syntax
        ("{ viewer { nope } }", {}),  # validation
        ("query ($id: ID!) { node(id: $id) { id } }", {}),  # variable coercion
        ("query ($p: Period!) { viewer { goals(period: $p) { amount } } }", {"p": "2026-13"}),  # scalar
    ],
)
async def test_request_errors_get_400_without_data_for_graphql_response_json(
    client: httpx.AsyncClient, admin: int, query: str, variables: dict[str, object]
) -> None:
    token = token_for(admin)
    modern = await _post(client, query, token, f"{GRAPHQL_RESPONSE}, application/json;q=0.9", **variables)
    assert modern.status_code == 400
    assert modern.headers["content-type"] == GRAPHQL_RESPONSE
    body = modern.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    legacy = await _post(client, query, token, "application/json", **variables)
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert legacy.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_execution_errors_keep_200_and_data(client: httpx.AsyncClient, admin: int) -> None:
    token = token_for(admin)
    query = '{ viewer { name } node(id: "VXNlcjo5OTk5OTk=") { id } }'
    for accept in (GRAPHQL_RESPONSE, "application/json", "*/*", f"{GRAPHQL_RESPONSE};q=0"):
        response = await _post(client, query, token, accept)
        assert response.status_code == 200, accept
        assert response.json()["data"]["viewer"]["name"] == "Astrid Admin"
    chosen = await _post(client, "{ viewer { name } }", token, f"application/json, {GRAPHQL_RESPONSE}")
    assert chosen.headers["content-type"] == GRAPHQL_RESPONSE
    declined = await _post(client, "{ viewer { name } }", token, f"application/json, {GRAPHQL_RESPONSE};q=0")
    assert declined.headers["content-type"] == "application/json"


async def test_refusals_before_graphql_answer_in_the_accepted_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ viewer { name } }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", 'send one operation as a JSON object: {"query": "...", "variables": {...}}'),
        (b"{", 'the body is not JSON: send one operation as a JSON object: {"query": "...", "variables": {...}}'),
        (b"null", 'send one operation as a JSON object: {"query": "...", "variables": {...}}'),
        (b'[{"query": "{ viewer { name } }"}]',
         'batched operations are not supported: send one operation as a JSON object: {"query": "...", "variables": {...}}'),
        (b'{"query": "{ viewer { name } }", "variables": [1]}', "variables must be a JSON object (or null)"),
        (b'{"query": "{ viewer { name } }", "variables": "x"}', "variables must be a JSON object (or null)"),
        (b"{}", "no query: the body needs a `query` string"),
    ],
)  # fmt: skip
async def test_bodies_graphql_cannot_read_are_json_errors(
    client: httpx.AsyncClient, admin: int, body: bytes, message: str
) -> None:
    """A malformed or empty body, a batch, and variables that are not an object are refused like every
    other request: a JSON error with a code and the request id, in the accepted type, and HTTP 400."""
    for accept in ("application/json", GRAPHQL_RESPONSE):
        headers = {
            "Authorization": f"Bearer {token_for(admin)}",
            "Content-Type": "application/json",
            "Accept": accept,
        }
        response = await client.post("/graphql", content=body, headers=headers)
        assert response.status_code == 400, (body, accept)
        assert response.headers["content-type"] == accept
        [error] = response.json()["errors"]
        assert error["message"] == message
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert len(error["extensions"]["requestId"]) == 32
