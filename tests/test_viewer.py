"""The viewer, resolved from a verified bearer token, over HTTP against a real PostgreSQL."""

import time

import httpx
import jwt
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import to_base64

from db.tables import users
from db.users import create_user
from tests.support import SECRET, data, graphql, token_for

VIEWER = "{ viewer { id name email active salesSeat } }"


@pytest.fixture(scope="module")
async def people(engine: AsyncEngine) -> dict[str, int]:
    async with engine.begin() as conn:
        rep = await create_user(conn, name="Rita Rep", email="rita@example.com", sales_seat=True)
        gone = await create_user(conn, name="Gone User", email="gone@example.com", sales_seat=False)
        await conn.execute(update(users).where(users.c.id == gone).values(active=False))
    return {"rep": rep, "inactive": gone}


async def test_viewer_with_a_valid_token(client: httpx.AsyncClient, people: dict[str, int]) -> None:
    result = await data(client, VIEWER, token=token_for(people["rep"]))
    assert result == {
        "viewer": {
            "id": to_base64("User", people["rep"]),
            "name": "Rita Rep",
            "email": "rita@example.com",
            "active": True,
            "salesSeat": True,
        }
    }


async def test_viewer_over_get(client: httpx.AsyncClient, people: dict[str, int]) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "{ viewer { name } }"},
        headers={"Authorization": f"Bearer {token_for(people['rep'])}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"name": "Rita Rep"}}}


def _forged(claims: dict[str, object], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _bad_tokens(rep: int, inactive: int) -> dict[str, str | None]:
    now = int(time.time())
    return {
        "none": None,
        "garbage": "not-a-token",
        "other secret": _forged(
            {"sub": str(rep), "iat": now, "exp": now + 60}, secret="another-secret-" + "y" * 40
        ),
        "expired": _forged({"sub": str(rep), "iat": now - 600, "exp": now - 120}),
        "no exp": _forged({"sub": str(rep), "iat": now}),
        "no sub": _forged({"iat": now, "exp": now + 60}),
        "non-numeric sub": _forged({"sub": "rita", "iat": now, "exp": now + 60}),
        "alg none": jwt.encode({"sub": str(rep), "iat": now, "exp": now + 60}, "", algorithm="none"),
        "unknown user": _forged({"sub": "999999", "iat": now, "exp": now + 60}),
        "inactive user": _forged({"sub": str(inactive), "iat": now, "exp": now + 60}),
    }


@pytest.mark.parametrize(
    "case",
    ["none", "garbage", "other secret", "expired", "no exp", "no sub", "non-numeric sub", "alg none",
     "unknown user", "inactive user"],
)  # fmt: skip
async def test_a_missing_or_bad_token_is_unauthenticated(
    client: httpx.AsyncClient, people: dict[str, int], case: str
) -> None:
    token = _bad_tokens(people["rep"], people["inactive"])[case]
    response = await graphql(client, VIEWER, token=token)
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body  # GraphQL never ran
    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"]
    assert "rita" not in response.text.lower()


async def test_a_malformed_authorization_header_is_unauthenticated(
    client: httpx.AsyncClient, people: dict[str, int]
) -> None:
    response = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Token {token_for(people['rep'])}"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_graphiql_is_off_unless_enabled(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 401
