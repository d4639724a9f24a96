"""Tokens from an external identity provider: RS256/ES256 with a PEM key or a JWKS, issuer, audience,
the user named by email, and every way such a token can be wrong."""

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.ext.asyncio import AsyncEngine

from db.users import create_user
from pipecast.app import create_app
from pipecast.auth import JWKS_REFETCH_SECONDS
from pipecast.settings import Settings
from tests.support import SECRET, token_for

ISSUER, AUDIENCE = "https://idp.example.com/", "pipecast"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _token(key: Any = RSA_KEY, algorithm: str = "RS256", kid: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "email": "erin@example.com",
        "iat": now,
        "exp": now + 300,
    } | claims
    body = {k: v for k, v in body.items() if v is not None}
    return str(jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid} if kid else None))


@pytest.fixture(scope="module")
async def erin(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return await create_user(conn, name="Erin External", email="Erin@Example.com", sales_seat=True)


async def _client(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(database_url=database_url, jwt_secret=SECRET, data_dir=Path("/nonexistent"), **settings)
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def pem_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(
        database_url,
        jwt_public_key=_pem(RSA_KEY),
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_user_claim="email",
    ):
        yield client


async def _viewer(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": "{ viewer { name } }"}, headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_provider_token_names_the_user_by_email(pem_client: httpx.AsyncClient, erin: int) -> None:
    response = await _viewer(pem_client, _token())
    assert response.json() == {"data": {"viewer": {"name": "Erin External"}}}
    # Pipecast's own tokens still work beside the provider's.
    assert (await _viewer(pem_client, token_for(erin))).json() == {
        "data": {"viewer": {"name": "Erin External"}}
    }


def _bad() -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": _token(iat=now - 900, exp=now - 300),
        "not yet valid": _token(nbf=now + 600),
        "wrong issuer": _token(iss="https://evil.example.com/"),
        "wrong audience": _token(aud="someone-else"),
        "no issuer": _token(iss=None),
        "no audience": _token(aud=None),
        "no email": _token(email=None),
        "no exp": _token(exp=None),
        "another key": _token(key=OTHER_KEY),
        "HS256 with the public key": _hs_with_public_key(now),
        "alg none": jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "email": "erin@example.com", "iat": now, "exp": now + 60}, "", algorithm="none"),
        "unknown user": _token(email="nobody@example.com"),
        "garbage": "abc.def.ghi",
    }  # fmt: skip


def _hs_with_public_key(now: int) -> str:
    """The HS/RS confusion attack: an HS256 token whose secret is the server's public key."""
    import base64  # noqa: PLC0415
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(
        json.dumps(
            {"iss": ISSUER, "aud": AUDIENCE, "email": "erin@example.com", "iat": now, "exp": now + 60}
        ).encode()
    )
    signature = hmac.new(_pem(RSA_KEY).encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


@pytest.mark.parametrize("case", list(_bad()))
async def test_every_wrong_provider_token_is_unauthenticated(
    pem_client: httpx.AsyncClient, erin: int, case: str
) -> None:
    response = await _viewer(pem_client, _bad()[case])
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in response.json()  # GraphQL never ran


class _Jwks:
    """A provider's JWKS endpoint on a free local port, whose keys the test can rotate."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, key: Any, kid: str, algorithm: str) -> None:
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[algorithm].to_jwk(key.public_key()))
        self.keys.append(jwk | {"kid": kid, "alg": algorithm, "use": "sig"})


@pytest.fixture(scope="module")
def jwks() -> Iterator[_Jwks]:
    endpoint = _Jwks()
    endpoint.add(RSA_KEY, "k1", "RS256")
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture(scope="module")
async def jwks_client(database_url: str, jwks: _Jwks) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(
        database_url, jwks_url=jwks.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_user_claim="email"
    ):
        yield client


async def test_jwks_keys_are_cached_and_a_new_kid_is_fetched_once(
    jwks_client: httpx.AsyncClient, jwks: _Jwks, erin: int
) -> None:
    for _ in range(3):
        assert (await _viewer(jwks_client, _token(kid="k1"))).status_code == 200
    assert jwks.fetches == 1
    jwks.add(EC_KEY, "k2", "ES256")  # the provider rotates in a new key
    await asyncio.sleep(JWKS_REFETCH_SECONDS)
    response = await _viewer(jwks_client, _token(key=EC_KEY, algorithm="ES256", kid="k2"))
    assert response.json() == {"data": {"viewer": {"name": "Erin External"}}}
    assert jwks.fetches == 2
    unknown = await _viewer(jwks_client, _token(key=OTHER_KEY, kid="k3"))
    assert unknown.status_code == 401
