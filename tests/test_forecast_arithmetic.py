"""The arithmetic of a forecast row and the forecast rules (docs/domain.md), worked out by hand — no database.

The figures below are one subject's deals for a period, already summed per forecast category (the
database gives a row the forecast amounts of its pipeline's kind, raw or weighted; closed won is always
raw):

    category        deals  amount   weighted
    NOT_FORECASTED      2   300.00     30.00   (one open, one lost)
    PIPELINE            3  1000.00    200.00
    BEST_CASE           1   500.00    250.00
    COMMIT              2   800.00    600.00
    CLOSED_WON          1   400.00    400.00
    open-stage amount: 100 + 1000 + 500 + 800 = 2400.00; weighted, all deals: 1480.00
"""

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from authz.catalog import Grant
from authz.forecasts import ForecastRules
from db.forecasts import Subject
from db.forecasts.table import NO_DEALS, Figures, TreeTeam
from db.teams import ViewerTeams
from resolvers.forecasts.arithmetic import apportioned, row, summed, team_calls

D = Decimal
FIGURES = Figures(
    counts=(2, 3, 1, 2, 1),
    amounts=(D("300.00"), D("1000.00"), D("500.00"), D("800.00"), D("400.00")),
    pipeline_value=D("2400.00"),
    weighted_pipeline=D("1480.00"),
)
WEIGHTED = replace(FIGURES, amounts=(D("30.00"), D("200.00"), D("250.00"), D("600.00"), D("400.00")))
ANN = Subject.user(7)


@dataclass(frozen=True)
class Submitted:
    amount: Decimal


def _row(figures: Figures | None = FIGURES, **given: Any) -> Any:
    arguments: dict[str, Any] = {"goal": None, "submission": None,
                                 "submissions_total": None, "ended": False, "open_": True} | given  # fmt: skip
    return row(ANN, figures, **arguments)


def test_raw_amounts_and_total() -> None:
    r = _row()
    assert r.closed_won == D("400.00")
    assert r.pipeline_value == D("2400.00")
    assert r.deal_count == 9
    assert r.weighted_pipeline == D("1480.00")
    assert r.categories == (
        ("NOT_FORECASTED", D("300.00"), 2),
        ("PIPELINE", D("1000.00"), 3),
        ("BEST_CASE", D("500.00"), 1),
        ("COMMIT", D("800.00"), 2),
        ("CLOSED_WON", D("400.00"), 1),
    )
    assert r.total == D("2700.00")  # 1000 + 500 + 800 + 400: NOT_FORECASTED is left out


def test_weighted_pipelines_total_their_weighted_amounts_and_closed_won() -> None:
    r = _row(WEIGHTED)
    assert [amount for _, amount, _ in r.categories] == [D("30.00"), D("200.00"), D("250.00"), D("600.00"),
                                                         D("400.00")]  # fmt: skip
    assert r.total == D("1450.00")  # 200 + 250 + 600 + closedWon 400
    assert r.closed_won == D("400.00")
    assert r.pipeline_value == D("2400.00")  # never weighted


def test_goal_derived_numbers() -> None:
    r = _row(goal=D("2000.00"))
    assert r.gap == D("1600.00")
    assert r.goal_attainment == pytest.approx(0.2)
    assert r.pipeline_coverage == pytest.approx(1.2)
    assert r.total_coverage == pytest.approx(1.35)


def test_over_goal_gives_a_negative_gap() -> None:
    assert _row(goal=D("250.00")).gap == D("-150.00")


def test_without_a_goal_or_with_goal_zero() -> None:
    none = _row()
    assert (none.goal, none.gap, none.goal_attainment, none.pipeline_coverage, none.total_coverage) == (
        None, None, None, None, None,
    )  # fmt: skip
    zero = _row(goal=D("0"))
    assert zero.gap == D("-400.00")
    assert (zero.goal_attainment, zero.pipeline_coverage, zero.total_coverage) == (None, None, None)


def test_accuracy_only_once_the_period_has_ended() -> None:
    assert _row(submission=Submitted(D("500.00"))).accuracy is None
    assert _row(submission=Submitted(D("500.00")), ended=True).accuracy == pytest.approx(0.75)  # 1 − 100/400
    assert _row(submission=Submitted(D("300.00")), ended=True).accuracy == pytest.approx(0.75)
    assert _row(submission=Submitted(D("1200.00")), ended=True).accuracy == 0.0  # never below 0
    assert _row(ended=True).accuracy is None  # no submission


def test_accuracy_needs_closed_won() -> None:
    nothing_won = replace(FIGURES, counts=(*FIGURES.counts[:4], 0), amounts=(*FIGURES.amounts[:4], D(0)))
    assert _row(nothing_won, submission=Submitted(D("10.00")), ended=True).accuracy is None


def test_no_deals_reads_as_zeros_in_every_category() -> None:
    r = _row(None, goal=D("100.00"))
    assert r.categories == tuple((name, D(0), 0) for name, _, _ in _row().categories)
    assert (r.closed_won, r.total, r.deal_count, r.gap, r.goal_attainment) == (
        D(0),
        D(0),
        0,
        D("100.00"),
        0.0,
    )


def test_a_restricted_row_hides_goals_submissions_and_what_comes_of_them() -> None:
    r = _row(goal=D("2000.00"), submission=Submitted(D("500.00")), submissions_total=D("9.00"), ended=True,
             open_=False)  # fmt: skip
    assert r.restricted
    hidden = (r.goal, r.gap, r.goal_attainment, r.pipeline_coverage, r.total_coverage, r.submission,
              r.submissions_total, r.accuracy)  # fmt: skip
    assert hidden == (None,) * 8
    assert (r.closed_won, r.total) == (D("400.00"), D("2700.00"))  # deal numbers stay


def test_figures_of_disjoint_groups_add_up() -> None:
    both = FIGURES + FIGURES
    assert both.counts == (4, 6, 2, 4, 2)
    assert both.amounts[4] == D("800.00")
    assert (both.pipeline_value, both.deal_count, both.weighted_pipeline) == (D("4800.00"), 18, D("2960.00"))
    assert FIGURES + NO_DEALS == FIGURES


# The rules, over a viewer who manages team 1 (and its sub-team 2) and is a member of team 3.
TEAMS = ViewerTeams(
    member=frozenset({1, 3}), managed=frozenset({1, 2}), reach=frozenset({1, 2, 3}), headed=frozenset({1})
)


def _rules(scope: str) -> ForecastRules:
    return ForecastRules(viewer_id=7, view=Grant(scope), teams=TEAMS)


@pytest.mark.parametrize(
    ("scope", "subject", "teams_of_user", "sees", "opens"),
    [
        ("ALL", Subject.user(99), frozenset(), True, True),
        ("TEAM", Subject.user(7), frozenset(), True, True),  # oneself
        ("TEAM", Subject.user(8), frozenset({2}), True, True),  # a member of a managed team
        ("TEAM", Subject.user(9), frozenset({3}), True, False),  # a teammate: the team-only view
        ("TEAM", Subject.user(10), frozenset({4}), False, False),  # out of reach
        ("TEAM", Subject.team(2), frozenset(), True, True),
        ("TEAM", Subject.team(3), frozenset(), True, False),
        ("TEAM", Subject.team(4), frozenset(), False, False),
        ("OWN", Subject.user(7), frozenset(), True, True),
        ("OWN", Subject.user(8), frozenset({2}), False, True),  # opens, but the row is out of sight
        ("OWN", Subject.team(1), frozenset(), False, True),
    ],
)
def test_who_sees_a_row_and_whose_goals_are_open(
    scope: str, subject: Subject, teams_of_user: frozenset[int], sees: bool, opens: bool
) -> None:
    rules = _rules(scope)
    assert rules.sees(subject, teams_of_user) is sees
    assert rules.opens(subject, teams_of_user) is opens


@pytest.mark.parametrize(
    ("scope", "subject", "teams_of_user", "submit", "set_goal"),
    [
        ("ALL", Subject.team(4), frozenset(), True, True),
        ("TEAM", Subject.user(7), frozenset({1}), True, False),  # forecast:edit TEAM covers oneself
        ("TEAM", Subject.user(8), frozenset({2}), True, True),
        ("TEAM", Subject.user(9), frozenset({3}), False, False),  # a teammate the viewer does not manage
        ("TEAM", Subject.team(2), frozenset(), True, True),
        ("TEAM", Subject.team(3), frozenset(), False, False),
        ("OWN", Subject.user(7), frozenset(), True, True),
        ("OWN", Subject.user(8), frozenset({2}), False, False),
        ("NONE", Subject.user(7), frozenset(), False, False),
    ],
)
def test_who_may_submit_and_set_goals(
    scope: str, subject: Subject, teams_of_user: frozenset[int], submit: bool, set_goal: bool
) -> None:
    rules, grant = _rules("ALL"), Grant(scope)
    assert rules.may(grant, subject, teams_of_user, includes_oneself=True) is submit
    assert rules.may(grant, subject, teams_of_user, includes_oneself=False) is set_goal


@pytest.mark.parametrize(
    ("view", "adjust", "subject", "counted_in", "may", "sees"),
    [
        ("TEAM", "ALL", Subject.team(1), None, True, True),  # ALL: anyone…
        ("TEAM", "ALL", Subject.user(7), None, False, False),  # …but oneself
        ("TEAM", "TEAM", Subject.team(2), None, True, True),  # below a team the viewer heads
        ("TEAM", "TEAM", Subject.team(1), None, False, False),  # the team they head: their own number
        ("TEAM", "TEAM", Subject.team(3), None, False, False),  # a team they are only a member of
        ("TEAM", "TEAM", Subject.user(8), 1, True, True),  # counted in a team they manage
        ("TEAM", "TEAM", Subject.user(8), 2, True, True),
        ("TEAM", "TEAM", Subject.user(9), 3, False, False),  # a teammate
        ("TEAM", "TEAM", Subject.user(10), None, False, False),  # no sales seat, or no team
        ("TEAM", "TEAM", Subject.user(7), 1, False, False),  # never oneself
        ("ALL", "NONE", Subject.team(4), None, False, True),  # forecast:view ALL sees every adjustment
        ("ALL", "NONE", Subject.user(7), 1, False, True),
        ("TEAM", "NONE", Subject.team(2), None, False, False),
    ],
)
def test_who_may_adjust_and_who_sees_adjustments(
    view: str, adjust: str, subject: Subject, counted_in: int | None, may: bool, sees: bool
) -> None:
    rules = ForecastRules(viewer_id=7, view=Grant(view), teams=TEAMS, adjust=Grant(adjust))
    assert rules.may_adjust(subject, counted_in) is may
    assert rules.sees_adjustment(subject, counted_in) is sees


def _tree(*teams: tuple[int, int | None]) -> dict[int, TreeTeam]:
    return {team: TreeTeam(parent, None, None) for team, parent in teams}


def test_a_team_call_is_decided_where_it_can_be_else_summed_from_below() -> None:
    """1 ⊃ 2 ⊃ 3, 1 ⊃ 4. Users: a (in 1) 10, b (in 2) 20, c (in 3) 30, d (in 4) 40."""
    tree = _tree((1, None), (2, 1), (3, 2), (4, 1))
    users = [(1, D(10)), (2, D(20)), (3, D(30)), (4, D(40))]
    assert team_calls(tree, {}, users) == {1: D(100), 2: D(50), 3: D(30), 4: D(40)}
    # 2 decided at 5 hides 3 and b from 1's call; 3 keeps its own call (it may be a row too).
    assert team_calls(tree, {2: D(5)}, users) == {1: D(55), 2: D(5), 3: D(30), 4: D(40)}
    assert team_calls(tree, {1: D(0), 3: D(1)}, users) == {1: D(0), 2: D(21), 3: D(1), 4: D(40)}
    # A part without a call (restricted) leaves every sum above it without one, unless decided above.
    hidden = [(1, D(10)), (2, None), (3, D(30)), (4, D(40))]
    assert team_calls(tree, {}, hidden) == {1: None, 2: None, 3: D(30), 4: D(40)}
    assert team_calls(tree, {2: D(7)}, hidden) == {1: D(57), 2: D(7), 3: D(30), 4: D(40)}
    # Users counted in teams outside the tree, and an empty team.
    assert team_calls(_tree((9, 1)), {}, users) == {9: D(0)}
    assert summed([]) == 0
    assert summed([D(1), None]) is None


def test_apportioned_cents_add_up_to_the_rounded_total() -> None:
    """A waterfall's steps in cents: rounded down, the missing cents to the largest remainders."""
    d = Decimal
    # exact 0.004 + 0.004 + 0.002 = 0.01: one cent, to the first of the largest remainders
    assert apportioned([d("0.004"), d("0.004"), d("0.002")], d("0.01")) == [d("0.01"), d("0"), d("0")]
    # negative steps round down too: -0.006 → -0.01, and the cent left goes back where it is largest
    assert apportioned([d("-0.006"), d("1.006")], d("1.00")) == [d("-0.01"), d("1.01")]
    # a rounded total below the steps' floors (start 0.015 → 0.02, end 0.025 → 0.02): a cent comes off
    assert apportioned([d("0.01")], d("0")) == [d("0")]
    # only eligible amounts (steps with deals) take a correction
    assert apportioned([d("0"), d("0.005"), d("0.005")], d("0.01"), [False, True, True]) == [
        d("0"),
        d("0.01"),
        d("0"),
    ]
