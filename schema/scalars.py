"""The contract's scalars, each refusing bad input with a BAD_USER_INPUT that says what is accepted."""

import datetime
import decimal
from typing import Any

from strawberry.types.scalar import ScalarDefinition

from db.periods import Period, PeriodError, parse_period
from resolvers.errors import BadUserInput


def _parse_period(value: Any) -> Period:
    try:
        return parse_period(value)
    except PeriodError as exc:
        raise BadUserInput(str(exc)) from None


PeriodScalar = ScalarDefinition(
    name="Period",
    description='A forecast period: "2026-11" for a month, "2026-Q4" for a fiscal quarter.',
    specified_by_url=None,
    serialize=lambda period: period.key,
    parse_value=_parse_period,
    parse_literal=None,
)


def parse_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadUserInput(f'{value!r} is not a decimal number: send a string such as "1250.00"')
    try:
        number = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise BadUserInput(f'{value!r} is not a decimal number: send a string such as "1250.00"') from None
    if not number.is_finite():
        raise BadUserInput(f"{value!r} is not a finite number")
    return number


DecimalScalar = ScalarDefinition(
    name="Decimal",
    description='An exact decimal number, serialized as a string such as "1250.00".',
    specified_by_url=None,
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=None,
)


def _parse_date(value: Any) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadUserInput(f'{value!r} is not a date: send YYYY-MM-DD, such as "2026-11-27"') from None


def _parse_datetime(value: Any) -> datetime.datetime:
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadUserInput(
            f"{value!r} is not a point in time: send ISO 8601 with an offset (2026-11-27T09:00:00Z)"
        )
    return parsed


DateScalar = ScalarDefinition(
    name="Date",
    description="A calendar date, ISO 8601 (2026-11-27).",
    specified_by_url=None,
    serialize=datetime.date.isoformat,
    parse_value=_parse_date,
    parse_literal=None,
)
DateTimeScalar = ScalarDefinition(
    name="DateTime",
    description="A point in time, ISO 8601 with offset.",
    specified_by_url=None,
    serialize=datetime.datetime.isoformat,
    parse_value=_parse_datetime,
    parse_literal=None,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {
    decimal.Decimal: DecimalScalar,
    Period: PeriodScalar,
    datetime.date: DateScalar,
    datetime.datetime: DateTimeScalar,
}
