"""SQL that writes values as the API's JSON text, for the compiled read path (`schema.compiled`).

Every renderer returns a text expression holding exactly the bytes the API's own encoder (orjson over the
values Strawberry's scalars produce) writes for the same value, and never NULL (a missing value is the
text `null`): compact objects and arrays, strings escaped by `to_json` (the same escapes as orjson),
stored decimals as their text, money rounded half-even to cents, floats as Python's `repr`, dates and
times as Python's `isoformat` in UTC, global IDs and signed cursors as the API issues them. The
differential tests hold both paths to the same bytes.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    LargeBinary,
    Numeric,
    Text,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

# PostgreSQL functions take at most 100 arguments; longer concatenations are nested.
_MAX_ARGUMENTS = 90


def constant(text: str) -> ColumnElement[str]:
    """A text constant written into the SQL (JSON punctuation, keys and enum-like names only)."""
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def concat(parts: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
    """The parts joined, adjacent constants merged; every part must be non-NULL text."""
    merged: list[ColumnElement[Any] | str] = []
    for part in parts:
        text = getattr(part, "_pipecast_constant", None)
        if text is not None and merged and isinstance(merged[-1], str):
            merged[-1] += text
        else:
            merged.append(text if text is not None else part)
    elements = [constant(m) if isinstance(m, str) else m for m in merged]
    if len(elements) == 1:
        return elements[0]
    while len(elements) > _MAX_ARGUMENTS:
        elements = [
            func.concat(*elements[i : i + _MAX_ARGUMENTS]) for i in range(0, len(elements), _MAX_ARGUMENTS)
        ]
    return func.concat(*elements, type_=Text)


def _piece(text: str) -> ColumnElement[str]:
    element = constant(text)
    element._pipecast_constant = text  # type: ignore[attr-defined]  # lets concat merge neighbours
    return element


def obj(fields: Sequence[tuple[str, ColumnElement[str]]]) -> ColumnElement[str]:
    """A JSON object with these keys, in this order."""
    if not fields:
        return _piece("{}")
    parts: list[ColumnElement[Any]] = []
    for n, (key, value) in enumerate(fields):
        parts += [_piece(("{" if n == 0 else ",") + json.dumps(key) + ":"), value]
    return concat([*parts, _piece("}")])


def array(
    element: ColumnElement[str],
    order_by: Sequence[ColumnElement[Any]],
    where: ColumnElement[bool] | None = None,
) -> ColumnElement[str]:
    """An aggregate: a JSON array of `element` over the group's rows, ordered, optionally filtered."""
    aggregated: ColumnElement[str] = func.string_agg(
        element, aggregate_order_by(literal_column("','"), *order_by)
    )
    if where is not None:
        aggregated = func.string_agg(element, aggregate_order_by(literal_column("','"), *order_by)).filter(
            where
        )
    return concat([_piece("["), func.coalesce(aggregated, constant("")), _piece("]")])


def nullable(present: ColumnElement[bool], value: ColumnElement[str]) -> ColumnElement[str]:
    """`value` when `present`, else null (an object reached through an outer join)."""
    return case((present, value), else_=constant("null"))


def string(value: ColumnElement[Any]) -> ColumnElement[str]:
    return func.coalesce(cast(func.to_json(value), Text), constant("null"))


def integer(value: ColumnElement[Any]) -> ColumnElement[str]:
    return func.coalesce(cast(value, Text), constant("null"))


def boolean(value: ColumnElement[Any]) -> ColumnElement[str]:
    return case((value, constant("true")), (~value, constant("false")), else_=constant("null"))


def decimal(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A stored NUMERIC as the Decimal scalar writes it (its text, as a JSON string)."""
    return func.coalesce(concat([_piece('"'), cast(value, Text), _piece('"')]), constant("null"))


def money(value: ColumnElement[Any]) -> ColumnElement[str]:
    """Computed money rounded half-even to cents (the API's `money()`), as a JSON string.

    `value` is read several times: give it a column of a subquery, not a long expression."""
    hundredths = value * 100
    floor = func.floor(hundredths)
    fraction = hundredths - floor
    up = case((fraction > 0.5, 1), (fraction < 0.5, 0), else_=func.abs(func.mod(floor, 2)))
    cents = func.round((floor + up) / 100, 2)
    return decimal(cast(cents, Numeric))


def floating(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A NUMERIC with at most 15 significant digits and a decimal exponent in [-4, 15] (probabilities)
    as Python writes float(value): the shortest digits, and ".0" when it is whole."""
    trimmed = func.trim_scale(value)
    text = cast(trimmed, Text)
    return case(
        (value.is_(None), constant("null")),
        (func.scale(trimmed) == 0, func.concat(text, constant(".0"))),
        else_=text,
    )


def day(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A date as "YYYY-MM-DD"."""
    return func.coalesce(concat([_piece('"'), _iso_day(value), _piece('"')]), constant("null"))


def _iso_day(value: ColumnElement[Any]) -> ColumnElement[str]:
    return func.to_char(value, constant("YYYY-MM-DD"))


def iso_moment(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A timestamptz as Python's isoformat of the UTC datetime asyncpg returns:
    YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00, microseconds only when not zero (text, unquoted)."""
    utc = func.timezone(constant("UTC"), value)
    micro = func.to_char(utc, constant("US"))
    return func.concat(
        func.to_char(utc, constant('YYYY-MM-DD"T"HH24:MI:SS')),
        case((micro == "000000", constant("")), else_=func.concat(constant("."), micro)),
        constant("+00:00"),
    )


def moment(value: ColumnElement[Any]) -> ColumnElement[str]:
    """A timestamptz as the DateTime scalar writes it."""
    return func.coalesce(concat([_piece('"'), iso_moment(value), _piece('"')]), constant("null"))


def _base64(data: ColumnElement[Any]) -> ColumnElement[str]:
    """Standard base64 on one line (PostgreSQL breaks lines every 76 characters)."""
    return func.replace(func.encode(data, constant("base64")), literal_column("chr(10)"), constant(""))


def global_id_text(type_name: str, key: ColumnElement[Any]) -> ColumnElement[str]:
    """The API's global ID of a `type_name` with integer key `key`: base64 of "Type:key" (unquoted)."""
    return _base64(func.convert_to(func.concat(constant(type_name + ":"), cast(key, Text)), constant("UTF8")))


def global_id(type_name: str, key: ColumnElement[Any]) -> ColumnElement[str]:
    return case(
        (key.is_(None), constant("null")),
        else_=concat([_piece('"'), global_id_text(type_name, key), _piece('"')]),
    )


# Cursor keys: how the sort key value of each tag is written inside the cursor's JSON payload
# (resolvers.pagination.encode_cursor writes the same from Python).
_CURSOR_VALUES: dict[str, Callable[[ColumnElement[Any]], ColumnElement[str]]] = {
    "i": lambda v: cast(v, Text),
    "s": lambda v: cast(func.to_json(v), Text),
    "n": lambda v: func.concat(constant('"'), cast(v, Text), constant('"')),
    "d": lambda v: func.concat(constant('"'), _iso_day(v), constant('"')),
    "t": lambda v: func.concat(constant('"'), iso_moment(v), constant('"')),
}


def cursor_tag(column: ColumnElement[Any]) -> str:
    """The tag of a sort key column's values in a cursor (resolvers.pagination._ENCODERS)."""
    python_type = column.type.python_type
    if python_type is int:
        return "i"
    if python_type is str:
        return "s"
    name = python_type.__name__
    return {"Decimal": "n", "date": "d", "datetime": "t"}[name]


def cursor(
    ordering: str,
    keys: Sequence[tuple[str, ColumnElement[Any]]],
    inner_pad: ColumnElement[Any],
    outer_pad: ColumnElement[Any],
) -> ColumnElement[str]:
    """A signed cursor for a row with these (tag, value) sort keys, as a JSON string: base64url without
    padding of HMAC-SHA256(key, payload)[:12] ‖ payload, the pads given as bytea parameters."""
    parts: list[ColumnElement[Any]] = [_piece(json.dumps(ordering) + ",[")]
    for n, (tag, value) in enumerate(keys):
        parts += [_piece(("," if n else "") + f'["{tag}",'), _CURSOR_VALUES[tag](value), _piece("]")]
    payload = func.convert_to(concat([_piece("["), *parts, _piece("]]")]), constant("UTF8"))
    inner = func.sha256(inner_pad.op("||", return_type=LargeBinary)(payload))
    signature = func.substring(func.sha256(outer_pad.op("||", return_type=LargeBinary)(inner)), 1, 12)
    encoded = _base64(signature.op("||", return_type=LargeBinary)(payload))
    url_safe = func.rtrim(func.translate(encoded, constant("+/"), constant("-_")), constant("="))
    return concat([_piece('"'), url_safe, _piece('"')])


def count_text(value: ColumnElement[Any]) -> ColumnElement[str]:
    return cast(value, Text)


def bigint(value: int) -> ColumnElement[int]:
    return literal(value, BigInteger)


__all__ = [
    "array",
    "bigint",
    "boolean",
    "concat",
    "constant",
    "count_text",
    "cursor",
    "cursor_tag",
    "day",
    "decimal",
    "floating",
    "global_id",
    "global_id_text",
    "integer",
    "iso_moment",
    "moment",
    "money",
    "null",
    "nullable",
    "obj",
    "string",
    "true",
]
