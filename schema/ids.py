"""Opaque global IDs ("User:7" in base64) at the API, integers inside."""

import base64
import binascii
from collections.abc import Sequence

from strawberry.relay import to_base64

from resolvers.errors import BadUserInput


def split(global_id: str) -> tuple[str, str] | None:
    """(type name, key) of a well-formed global ID, else None."""
    try:
        text = base64.b64decode(global_id, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, _, key = text.partition(":")
    if not type_name or not key or len(key) > 100 or to_base64(type_name, key) != global_id:
        return None
    return type_name, key


def decode(global_id: str, type_name: str, field: str = "id") -> int:
    """The key of a `type_name` ID; anything else is BAD_USER_INPUT naming the field."""
    parts = split(global_id)
    if parts is None or (parts[0] == type_name and not (parts[1].isdecimal() and len(parts[1]) <= 18)):
        raise BadUserInput(f"{field}: {global_id!r} is not an ID issued by this API")
    if parts[0] != type_name:
        raise BadUserInput(f"{field}: {global_id!r} is the ID of a {parts[0]}, not of a {type_name}")
    return int(parts[1])


def decode_many(global_ids: Sequence[str] | None, type_name: str, field: str) -> tuple[int, ...] | None:
    return None if global_ids is None else tuple(decode(g, type_name, field) for g in global_ids)


def encode(type_name: str, key: int) -> str:
    return to_base64(type_name, key)
