"""Checks of what clients send; each failure is a BAD_USER_INPUT that says what is accepted."""

import re
from decimal import Decimal

from db.currencies import ISO_4217
from resolvers.errors import BadUserInput

MAX_NAME = 200
MAX_TEXT = 2000
MONEY_LIMIT = Decimal(10) ** 13
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def name(value: str, field: str = "name") -> str:
    cleaned = value.strip()
    if not cleaned:
        raise BadUserInput(f"{field} must not be empty")
    if len(cleaned) > MAX_NAME:
        raise BadUserInput(f"{field} is {len(cleaned)} characters long: at most {MAX_NAME} are accepted")
    return cleaned


def text(value: str | None, field: str, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise BadUserInput(f"{field} is {len(value)} characters long: at most {limit} are accepted")
    return value.strip() or None


def money(value: Decimal, field: str = "amount") -> Decimal:
    """A non-negative amount below 10^13 with at most 2 decimals, kept exactly as given."""
    if not value.is_finite():
        raise BadUserInput(f"{field} {value} is not a finite number")
    if value < 0:
        raise BadUserInput(f"{field} {value} is negative: amounts must be 0 or more")
    if value >= MONEY_LIMIT:
        raise BadUserInput(f"{field} {value} is too large: amounts must be below 10^13")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise BadUserInput(f"{field} {value} has more than 2 decimals")
    return value


def rate(value: Decimal, field: str = "rate") -> Decimal:
    if not value.is_finite() or value <= 0:
        raise BadUserInput(f"{field} {value} must be a positive number")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -10:
        raise BadUserInput(f"{field} {value} has more than 10 decimals")
    if value >= Decimal(10) ** 10:
        raise BadUserInput(f"{field} {value} is too large: rates must be below 10^10")
    return value


def probability(value: float, field: str = "probability") -> Decimal:
    if not 0 <= value <= 1:  # NaN fails too
        raise BadUserInput(f"{field} {value} is outside [0, 1]")
    result = Decimal(str(value))
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise BadUserInput(f"{field} {value} has more than 4 decimals")
    return result


def currency(value: str, field: str = "currency") -> str:
    code = value.strip().upper()
    if code not in ISO_4217:
        raise BadUserInput(f"{field} {value!r} is not an ISO 4217 currency code such as USD, EUR or NOK")
    return code


def email(value: str, field: str = "email") -> str:
    cleaned = value.strip()
    if len(cleaned) > 254 or not EMAIL.fullmatch(cleaned):
        raise BadUserInput(f"{field} {value!r} is not an email address (name@example.com)")
    return cleaned
