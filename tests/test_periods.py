"""Periods (docs/domain.md): properties of parsing, printing and bounds, and the scalar over HTTP."""

import contextlib
import re
from datetime import date, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.periods import Period, PeriodError, parse_period, period_containing
from tests.support import error_code, token_for

years = st.integers(min_value=1000, max_value=9998)
fiscal_starts = st.integers(min_value=1, max_value=12)
periods = st.one_of(
    st.builds(Period, years, st.just("MONTH"), st.integers(1, 12)),
    st.builds(Period, years, st.just("QUARTER"), st.integers(1, 4)),
)
days = st.dates(min_value=date(1001, 1, 1), max_value=date(9997, 12, 31))


@given(periods)
def test_printing_then_parsing_gives_the_period_back(period: Period) -> None:
    assert parse_period(period.key) == period
    assert parse_period(period.key).key == period.key


@given(periods, fiscal_starts)
def test_bounds_are_whole_months_and_consecutive_periods_touch(period: Period, fiscal_start: int) -> None:
    start, end = period.start(fiscal_start), period.end(fiscal_start)
    assert start.day == 1
    assert (end + timedelta(days=1)).day == 1
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    assert months == (1 if period.kind == "MONTH" else 3)
    assert period.shifted(1).start(fiscal_start) == end + timedelta(days=1)
    assert period.shifted(-1).end(fiscal_start) == start - timedelta(days=1)


@given(days, fiscal_starts, st.sampled_from(["MONTH", "QUARTER"]))
def test_the_period_containing_a_day_contains_it(day: date, fiscal_start: int, kind: str) -> None:
    period = period_containing(day, kind, fiscal_start)  # type: ignore[arg-type]
    assert period.start(fiscal_start) <= day <= period.end(fiscal_start)


@given(st.text(max_size=12))
def test_anything_else_is_refused_with_what_is_accepted(text: str) -> None:
    parsed = None
    with contextlib.suppress(PeriodError):
        parsed = parse_period(text)
    if parsed is not None:
        assert parsed.key == text
    else:
        with pytest.raises(PeriodError, match=re.escape(repr(text))):
            parse_period(text)


def test_quarters_follow_the_fiscal_year() -> None:
    q4 = parse_period("2026-Q4")
    assert (q4.start(1), q4.end(1)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert (q4.start(4), q4.end(4)) == (date(2027, 1, 1), date(2027, 3, 31))
    assert (parse_period("2026-Q1").start(11), parse_period("2026-Q1").end(11)) == (
        date(2026, 11, 1),
        date(2027, 1, 31),
    )
    assert period_containing(date(2027, 2, 3), "QUARTER", 4).key == "2026-Q4"
    assert period_containing(date(2026, 2, 3), "QUARTER", 4).key == "2025-Q4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13", "period '2026-13': month must be 01–12"),
        ("2026-00", "period '2026-00': month must be 01–12"),
        ("2026-Q5", "period '2026-Q5': quarter must be Q1–Q4"),
        ("2026-Q0", "period '2026-Q0': quarter must be Q1–Q4"),
        (
            "2026-1",
            "period '2026-1' is not a month as YYYY-MM (2026-11) or a fiscal quarter as YYYY-Qn (2026-Q4)",
        ),
        ("26-01", "period '26-01' is not a month as YYYY-MM"),
        ("", "period '' is not a month as YYYY-MM"),
        ("2026-q4", "period '2026-q4' is not a month as YYYY-MM"),
    ],
)
async def test_the_period_scalar_refuses_bad_periods(
    client: httpx.AsyncClient, admin: int, text: str, message: str
) -> None:
    for query, variables in (
        ("query($p: Period!) { deals(filter: {period: $p}) { totalCount } }", {"p": text}),
        (f'{{ deals(filter: {{period: "{text}"}}) {{ totalCount }} }}', None),
    ):
        code, error = await error_code(client, query, variables, token=token_for(admin))
        assert code == "BAD_USER_INPUT"
        assert message in error
