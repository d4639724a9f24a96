"""Page sizes and opaque keyset cursors.

A cursor is the page's last sort key, tagged with the list's order and signed with a key derived from the
deployment's secret, so a cursor the API did not issue (or issued for another order) is refused.
"""

import base64
import binascii
import hashlib
import hmac
import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from db.pagination import Key
from resolvers.errors import BadUserInput

DEFAULT_FIRST = 50
MAX_FIRST = 200

_ENCODERS: dict[type, str] = {bool: "b", int: "i", str: "s", Decimal: "n", datetime: "t", date: "d"}
_DECODERS: dict[str, Any] = {
    "b": bool,
    "i": int,
    "s": str,
    "n": Decimal,
    "t": datetime.fromisoformat,
    "d": date.fromisoformat,
}


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 0 <= first <= MAX_FIRST:
        raise BadUserInput(f"first is {first}: it must be between 0 and {MAX_FIRST}")
    return first


SIGNATURE_BYTES = 12


def cursor_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"pipecast cursor", hashlib.sha256).digest()


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]


def encode_cursor(key: bytes, ordering: str, sort_key: Key) -> str:
    values = [[_ENCODERS[type(v)], v if isinstance(v, bool | int | str) else str(v)] for v in sort_key]
    payload = json.dumps([ordering, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_sign(key, payload) + payload).decode().rstrip("=")


def decode_cursor(key: bytes, cursor: str | None, ordering: str) -> Key | None:
    """The sort key a cursor of this list and order stands for; anything else is BAD_USER_INPUT."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:SIGNATURE_BYTES], raw[SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, _sign(key, payload)):
            raise ValueError
        name, values = json.loads(payload)
        if name != ordering:
            raise ValueError
        return tuple(_DECODERS[tag](value) for tag, value in values)
    except (ValueError, TypeError, KeyError, InvalidOperation, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(
            f"after: {cursor!r} is not a cursor this list issued (use an endCursor from the same query)"
        ) from None
