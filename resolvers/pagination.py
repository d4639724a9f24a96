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


def _plain(value: Any) -> Any:
    """A sort key value as the cursor writes it (db.render.cursor writes the same text in SQL)."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation: 0.0000000000, not 0E-10
    return value.isoformat()  # date or datetime


def encode_cursor(key: bytes, ordering: str, sort_key: Key) -> str:
    values = [[_ENCODERS[type(v)], _plain(v)] for v in sort_key]
    payload = json.dumps([ordering, values], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(_sign(key, payload) + payload).decode().rstrip("=")


HMAC_BLOCK = 64


def signing_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer HMAC-SHA256 pads of the cursor key, so that SQL can sign cursors too
    (HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), RFC 2104)."""
    padded = key.ljust(HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


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
