"""Forecast periods (docs/domain.md): '2026-11' is a month, '2026-Q4' a fiscal quarter.

Quarter n of year Y starts in month `fiscal_start + 3(n - 1)` counted from year Y's fiscal start (month
`fiscal_start` of calendar year Y), so with a fiscal year starting in April, 2026-Q4 is January–March 2027.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["MONTH", "QUARTER"]

_FORMAT = re.compile(r"(?P<year>\d{4})-(?:(?P<month>\d{2})|Q(?P<quarter>\d))")
ACCEPTED = "a month as YYYY-MM (2026-11) or a fiscal quarter as YYYY-Qn (2026-Q4), year 1000–9998"


class PeriodError(ValueError):
    """Text that is not a period; the message says what is accepted."""


@dataclass(frozen=True, slots=True, order=True)
class Period:
    year: int
    kind: PeriodKind
    number: int  # month 1–12 or quarter 1–4

    @property
    def key(self) -> str:
        return (
            f"{self.year:04d}-{self.number:02d}"
            if self.kind == "MONTH"
            else f"{self.year:04d}-Q{self.number}"
        )

    def start(self, fiscal_start: int = 1) -> date:
        if self.kind == "MONTH":
            return date(self.year, self.number, 1)
        return _month_start(self.year * 12 + (fiscal_start - 1) + 3 * (self.number - 1))

    def end(self, fiscal_start: int = 1) -> date:
        """The last day of the period (inclusive)."""
        months = 1 if self.kind == "MONTH" else 3
        first = self.start(fiscal_start)
        return _month_start(first.year * 12 + first.month - 1 + months) - timedelta(days=1)

    def shifted(self, steps: int) -> "Period":
        per_year = 12 if self.kind == "MONTH" else 4
        index = self.year * per_year + self.number - 1 + steps
        return Period(index // per_year, self.kind, index % per_year + 1)

    def __str__(self) -> str:
        return self.key


def _month_start(month_index: int) -> date:
    return date(month_index // 12, month_index % 12 + 1, 1)


def parse_period(text: str) -> Period:
    match = _FORMAT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise PeriodError(f"period {text!r} is not {ACCEPTED}")
    year = int(match["year"])
    if not 1000 <= year <= 9998:
        raise PeriodError(f"period {text!r}: the year must be 1000–9998")
    if match["month"] is not None:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: month must be 01–12")
        return Period(year, "MONTH", month)
    quarter = int(match["quarter"])
    if not 1 <= quarter <= 4:
        raise PeriodError(f"period {text!r}: quarter must be Q1–Q4")
    return Period(year, "QUARTER", quarter)


def period_containing(day: date, kind: PeriodKind, fiscal_start: int = 1) -> Period:
    if kind == "MONTH":
        return Period(day.year, "MONTH", day.month)
    months = day.year * 12 + day.month - 1 - (fiscal_start - 1)
    return Period(months // 12, "QUARTER", months % 12 // 3 + 1)
