"""The range of closedWon at a period's end (resolvers/forecasts/prediction.py), checked as properties over
generated open deals, and against a 200,000-trial Monte Carlo reference.

The reference draws every deal's outcome independently; its percentiles are those of the draws. Its own
sampling error is allowed for by levels: each returned q-percentile must lie between the reference's
percentiles at q − δ and q + δ (δ = 0.005, over four standard errors at 200,000 trials), widened by
0.5 % of the open amount — and, for the MIXTURE method, by the Berry–Esseen bound ε it reports on the
level (docs/prediction.md).
"""

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.forecasts.prediction import (
    EXACT_LIMIT,
    LATTICE_LIMIT,
    LEVELS,
    Group,
    Method,
    OpenDeals,
    predict,
)

TRIALS = 200_000
DELTA = 0.005
CHANCES = st.sampled_from([0.0, 0.05, 0.2, 0.37, 0.5, 0.64, 0.81, 0.95, 1.0])
AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2000000"), places=2)


def deals_of(deals: list[tuple[Decimal, float]]) -> OpenDeals:
    """Deals grouped by stage: one stage per chance."""
    by_stage: dict[int, tuple[float, list[Decimal]]] = {}
    for amount, chance in deals:
        by_stage.setdefault(round(chance * 100), (chance, []))[1].append(amount)
    return OpenDeals({key: (chance, Group.of(amounts)) for key, (chance, amounts) in by_stage.items()})


OPEN_DEALS = st.lists(st.tuples(AMOUNTS, CHANCES), max_size=140)
CLOSED_WON = st.decimals(min_value=Decimal(0), max_value=Decimal("5000000"), places=2)


@given(CLOSED_WON, OPEN_DEALS)
@settings(max_examples=150, deadline=None)
def test_the_range_lies_between_closed_won_and_every_open_deal_won(
    closed_won: Decimal, deals: list[tuple[Decimal, float]]
) -> None:
    p = predict(closed_won, deals_of(deals))
    certain = sum((a for a, c in deals if c == 1.0), Decimal(0))
    every = sum((a for a, _ in deals), Decimal(0))
    assert closed_won + certain <= p.p10 <= p.p50 <= p.p90 <= closed_won + every
    assert closed_won <= p.expected <= closed_won + every
    assert p.open_deals == len(deals)


@given(CLOSED_WON)
def test_without_open_deals_every_figure_is_closed_won(closed_won: Decimal) -> None:
    p = predict(closed_won, OpenDeals())
    assert p.p10 == p.p50 == p.p90 == p.expected == closed_won
    assert p.open_deals == 0


@given(CLOSED_WON, OPEN_DEALS, AMOUNTS)
@settings(max_examples=100, deadline=None)
def test_a_certain_deal_always_counts(
    closed_won: Decimal, deals: list[tuple[Decimal, float]], certain: Decimal
) -> None:
    """A deal of chance 1 is in every outcome: the whole range moves up by at least its amount."""
    p = predict(closed_won, deals_of([*deals, (certain, 1.0)]))
    assert p.p10 >= closed_won + certain
    assert p.expected >= closed_won + certain


@given(OPEN_DEALS, st.integers(min_value=1, max_value=3))
@settings(max_examples=60, deadline=None)
def test_a_teams_deals_together_make_one_range(deals: list[tuple[Decimal, float]], parts: int) -> None:
    """Adding members' groups (OpenDeals +) gives the range of all their deals at once."""
    split = [deals[n::parts] for n in range(parts)]
    together = OpenDeals()
    for part in split:
        together = together + deals_of(part)
    assert predict(Decimal(0), together) == predict(Decimal(0), deals_of(deals))


def test_a_teams_range_is_not_the_sum_of_its_members_percentiles() -> None:
    """Two members with one coin-flip deal of 100 each: each one's P50 is 0, the team's is 100."""
    one = deals_of([(Decimal(100), 0.5)])
    member = predict(Decimal(0), one)
    team = predict(Decimal(0), one + deals_of([(Decimal(100), 0.5)]))
    assert (member.p10, member.p50, member.p90) == (Decimal(0), Decimal(0), Decimal(100))
    assert (team.p10, team.p50, team.p90) == (Decimal(0), Decimal(100), Decimal(200))


def _reference(deals: list[tuple[Decimal, float]], seed: int) -> tuple[np.ndarray, float]:
    """TRIALS sums of independently won deals (in chunks, to bound memory), and the open amount."""
    amounts = np.array([float(a) for a, _ in deals])
    chances = np.array([c for _, c in deals])
    rng = np.random.default_rng(seed)
    sums = np.concatenate(
        [(rng.random((20_000, len(deals))) < chances) @ amounts for _ in range(TRIALS // 20_000)]
    )
    return np.sort(sums), float(amounts.sum())


def _check_against_reference(deals: list[tuple[Decimal, float]], seed: int) -> Method:
    p = predict(Decimal(0), deals_of(deals))
    sums, open_amount = _reference(deals, seed)
    slack = DELTA + p.level_error
    for level, value in zip(LEVELS, (p.p10, p.p50, p.p90), strict=True):
        low = np.quantile(sums, max(0.0, level - slack), method="inverted_cdf")
        high = np.quantile(sums, min(1.0, level + slack), method="inverted_cdf")
        tolerance = 0.005 * open_amount + 0.01
        assert low - tolerance <= float(value) <= high + tolerance, (level, float(value), low, high, p.method)
    return p.method


@given(st.lists(st.tuples(AMOUNTS, CHANCES), min_size=1, max_size=LATTICE_LIMIT), st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_exact_and_lattice_percentiles_match_a_monte_carlo_reference(
    deals: list[tuple[Decimal, float]], seed: int
) -> None:
    method = _check_against_reference(deals, seed)
    assert method == (Method.EXACT if len(deals) <= EXACT_LIMIT else Method.LATTICE)


@given(st.lists(st.tuples(AMOUNTS, CHANCES), min_size=LATTICE_LIMIT + 1, max_size=400), st.integers(0, 2**32))
@settings(max_examples=25, deadline=None)
def test_mixture_percentiles_match_a_monte_carlo_reference_within_their_stated_bound(
    deals: list[tuple[Decimal, float]], seed: int
) -> None:
    assert _check_against_reference(deals, seed) == Method.MIXTURE


def test_many_comparable_deals_need_no_slack_beyond_half_a_percent() -> None:
    """2,000 deals of everyday sizes: the MIXTURE's bound is small, and its percentiles are within 0.5 %
    of the open amount of the reference's at the same levels."""
    rng = np.random.default_rng(7)
    deals = [
        (Decimal(f"{a:.2f}"), float(c))
        for a, c in zip(
            rng.uniform(1_000, 150_000, 2000), rng.choice([0.2, 0.5, 0.8, 0.9], 2000), strict=True
        )
    ]
    p = predict(Decimal(0), deals_of(deals))
    assert p.method == Method.MIXTURE
    assert p.level_error < 0.05
    sums, open_amount = _reference(deals, 11)
    for level, value in zip(LEVELS, (p.p10, p.p50, p.p90), strict=True):
        assert abs(float(value) - np.quantile(sums, level)) <= 0.005 * open_amount


def test_the_same_deals_give_the_same_range() -> None:
    deals = [(Decimal(f"{1000 + n * 37}.11"), [0.3, 0.6, 0.9][n % 3]) for n in range(300)]
    one, other = predict(Decimal(5), deals_of(deals)), predict(Decimal(5), deals_of(list(reversed(deals))))
    assert (one.p10, one.p50, one.p90, one.expected) == (other.p10, other.p50, other.p90, other.expected)
