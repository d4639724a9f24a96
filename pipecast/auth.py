"""Authentication: who the bearer of a request is. What they may do is `authz`'s business."""

import time

import jwt

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by us; the message is safe to show."""


def issue_token(user_id: int, secret: str, ttl: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "iat": now, "exp": now + ttl}, secret, algorithm=ALGORITHM)


def user_id_from_token(token: str, secret: str) -> int:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("the token is not valid") from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.isdecimal():
        raise InvalidToken("the token is not valid")
    return int(subject)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("authentication required: send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the Authorization header must be `Bearer <token>`")
    return token.strip()
