"""Request ids in every error and one JSON log line per request, without tokens or variables."""

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from tests.support import token_for


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "pipecast.access"]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The access logger does not propagate (it writes JSON lines itself): listen to it directly."""
    logger = logging.getLogger("pipecast.access")
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


async def test_a_request_is_logged_once_as_json(
    client: httpx.AsyncClient, admin: int, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_for(admin)
    secret_value = "s3cret-variable-value"
    response = await client.post(
        "/graphql",
        json={"query": "query Mine($x: String) { users(search: $x) { totalCount } }", "operationName": "Mine",
              "variables": {"x": secret_value}},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [line] = [entry for entry in _lines(caplog) if entry["request_id"] == request_id]
    assert line["operation"] == "Mine"
    assert line["user_id"] == admin
    assert line["status"] == 200
    assert line["error_codes"] == []
    assert isinstance(line["duration_ms"], float)
    text = json.dumps(line)
    assert token not in text
    assert secret_value not in text


async def test_errors_carry_the_request_id(
    client: httpx.AsyncClient, admin: int, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": '{ node(id: "nope") { id } }'},
        headers={"Authorization": f"Bearer {token_for(admin)}", "X-Request-Id": "trace-123"},
    )
    assert response.headers["x-request-id"] == "trace-123"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "requestId": "trace-123"}
    [line] = [entry for entry in _lines(caplog) if entry["request_id"] == "trace-123"]
    assert line["error_codes"] == ["BAD_USER_INPUT"]
    unauthenticated = await client.post(
        "/graphql", json={"query": "{ viewer { name } }"}, headers={"X-Request-Id": "bad id!"}
    )
    generated = unauthenticated.headers["x-request-id"]
    assert generated != "bad id!"
    assert unauthenticated.json()["errors"][0]["extensions"]["requestId"] == generated
