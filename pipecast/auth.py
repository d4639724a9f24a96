"""Authentication: who the bearer of a request is. What they may do is `authz`'s business.

Tokens Pipecast issues itself (`pipecast token`, `serve --demo`) are HS256 with PIPECAST_JWT_SECRET.
Tokens of an external identity provider are RS256 or ES256, checked with a PEM public key or the
provider's JWKS (cached by `kid`, fetched again once for an unknown one). The algorithm decides the
key: an HS256 token is only ever checked with the secret, so a token "signed" with a public key fails.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import jwt

HS256 = "HS256"
ASYMMETRIC = ("RS256", "ES256")
LEEWAY_SECONDS = 30
JWKS_REFETCH_SECONDS = 1.0


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by a trusted key; safe to show."""


@dataclass(frozen=True)
class Identity:
    """Who a valid token names: a user id (claim `sub`) or an email (claim `email`)."""

    user_id: int | None = None
    email: str | None = None
    expires_at: float | None = None  # the token's `exp` (seconds since the epoch): when a WebSocket ends


def issue_token(user_id: int, secret: str, ttl: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "iat": now, "exp": now + ttl}, secret, algorithm=HS256)


class TokenVerifier:
    def __init__(
        self,
        *,
        secret: str | None,
        public_key: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        user_claim: str = "sub",
    ) -> None:
        self.secret, self.public_key, self.issuer, self.audience = secret, public_key, issuer, audience
        self.user_claim = user_claim
        # Keys are cached for 5 minutes; an unknown kid refetches the set once, at most once a second
        # (so tokens with random kids cannot make Pipecast hammer the provider).
        self.jwks = (
            jwt.PyJWKClient(
                jwks_url, cache_jwk_set=True, lifespan=300, cooldown_duration=JWKS_REFETCH_SECONDS
            )
            if jwks_url
            else None
        )

    async def identify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not valid") from exc
        algorithm = header.get("alg")
        key: Any
        if algorithm == HS256 and self.secret:
            return self._claims(token, self.secret, HS256, own=True)
        if algorithm in ASYMMETRIC and self.public_key:
            key = self.public_key
        elif algorithm in ASYMMETRIC and self.jwks is not None:
            try:
                key = (await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWKClientError as exc:
                raise InvalidToken("the token's signing key is not known") from exc
        else:
            raise InvalidToken("the token is not valid")
        return self._claims(token, key, algorithm, own=False)

    def _claims(self, token: str, key: Any, algorithm: str, *, own: bool) -> Identity:
        """Our own tokens name the user id in `sub`; a provider's carry its issuer, audience and claim."""
        issuer, audience, claim = (
            (None, None, "sub") if own else (self.issuer, self.audience, self.user_claim)
        )
        required = ["exp", "iat", claim] + [c for c, v in (("iss", issuer), ("aud", audience)) if v]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                options={"require": required},
                issuer=issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not valid") from exc
        value, expires_at = claims[claim], float(claims["exp"])
        if claim == "email":
            if not isinstance(value, str) or "@" not in value:
                raise InvalidToken("the token is not valid")
            return Identity(email=value, expires_at=expires_at)
        if not isinstance(value, str) or not value.isdecimal():
            raise InvalidToken("the token is not valid")
        return Identity(user_id=int(value), expires_at=expires_at)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("authentication required: send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the Authorization header must be `Bearer <token>`")
    return token.strip()
