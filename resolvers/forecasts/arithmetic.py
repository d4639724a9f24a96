"""A forecast row's numbers from its figures, exactly as docs/domain.md defines them: pure arithmetic on
exact decimals, no database (tests/test_forecast_arithmetic.py works them out by hand).

- categories: per forecast category the forecast amount (weighted or raw, per the pipeline, as the
  figures come; CLOSED_WON is always closedWon) and the deal count, all five always listed;
- total: the forecast amounts of PIPELINE, BEST_CASE, COMMIT and CLOSED_WON;
- goal-derived numbers (gap, attainment, coverages) only with a goal (ratios only when it is not 0);
- accuracy only for a period that has ended, with a submission and closedWon not 0;
- a restricted row (the team-only view) hides its goal, submissions and everything derived from them;
- the call (§7): a user's visible adjustment, else their submission, else their total; a team's visible
  adjustment, else its own submission, else the Σ of the calls of its direct sub-teams and of the users
  counted directly in it. A restricted row has no call, and a sum with a part that has none has none.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from db.forecasts import Subject
from db.forecasts.table import NO_DEALS, Figures, TreeTeam
from db.vocabulary import CLOSED_WON, FORECAST_CATEGORIES, IN_TOTAL

ZERO = Decimal(0)
_CLOSED_WON = FORECAST_CATEGORIES.index(CLOSED_WON)
_IN_TOTAL = tuple(FORECAST_CATEGORIES.index(name) for name in IN_TOTAL)


@dataclass(frozen=True, slots=True)
class Row:
    """One subject's numbers for a pipeline and period (unrounded; the API rounds money to cents).

    It keeps what the numbers come from and works each out when asked: a table writes only the
    numbers its query selects."""

    subject: Subject
    figures: Figures
    restricted: bool
    own_goal: Decimal | None
    own_submission: Any  # the latest submission's record (with .amount), or None
    own_submissions_total: Decimal | None
    ended: bool
    adjustment: Any = None  # the adjustment in force that the viewer may see (a record), or None
    own_call: Decimal | None = None
    # Whose deals the row counts, as keys of db.predictions (a summary of several teams: theirs), and its
    # prediction (resolvers/forecasts/outlook.py) when one was asked for and the period has not ended.
    keys: tuple[tuple[str, int | None], ...] = ()
    prediction: Any = None

    @property
    def call(self) -> Decimal | None:
        return None if self.restricted else self.own_call

    @property
    def closed_won(self) -> Decimal:
        return self.figures.amounts[_CLOSED_WON]

    @property
    def pipeline_value(self) -> Decimal:
        return self.figures.pipeline_value

    @property
    def weighted_pipeline(self) -> Decimal:
        return self.figures.weighted_pipeline

    @property
    def deal_count(self) -> int:
        return self.figures.deal_count

    @property
    def categories(self) -> tuple[tuple[str, Decimal, int], ...]:
        return tuple(zip(FORECAST_CATEGORIES, self.figures.amounts, self.figures.counts, strict=True))

    @property
    def total(self) -> Decimal:
        return total_of(self.figures)

    @property
    def goal(self) -> Decimal | None:
        return None if self.restricted else self.own_goal

    @property
    def gap(self) -> Decimal | None:
        goal = self.goal
        return None if goal is None else goal - self.closed_won

    @property
    def goal_attainment(self) -> float | None:
        return ratio(self.closed_won, self.goal)

    @property
    def pipeline_coverage(self) -> float | None:
        return ratio(self.pipeline_value, self.goal)

    @property
    def total_coverage(self) -> float | None:
        return ratio(self.total, self.goal)

    @property
    def submission(self) -> Any:
        return None if self.restricted else self.own_submission

    @property
    def submitted(self) -> Decimal | None:
        """The latest submission's amount (None without one, or when hidden)."""
        submission = self.submission
        return None if submission is None else submission.amount

    @property
    def submissions_total(self) -> Decimal | None:
        return None if self.restricted else self.own_submissions_total

    @property
    def accuracy(self) -> float | None:
        submitted, closed_won = self.submitted, self.closed_won
        if not self.ended or submitted is None or closed_won == 0:
            return None
        return max(0.0, 1 - float(abs(closed_won - submitted) / closed_won))


def ratio(part: Decimal, whole: Decimal | None) -> float | None:
    return None if whole is None or whole == 0 else float(part / whole)


def total_of(figures: Figures | None) -> Decimal:
    amounts = (figures or NO_DEALS).amounts
    return sum((amounts[n] for n in _IN_TOTAL), ZERO)


def first_of(*amounts: Decimal | None) -> Decimal | None:
    return next((a for a in amounts if a is not None), None)


def summed(calls: Iterable[Decimal | None]) -> Decimal | None:
    """The Σ of some calls; None when one of them is None (a restricted part reveals nothing)."""
    total = ZERO
    for call in calls:
        if call is None:
            return None
        total += call
    return total


def team_calls(
    tree: Mapping[int, TreeTeam],
    decided: Mapping[int, Decimal],
    users: Iterable[tuple[int, Decimal | None]],
) -> dict[int, Decimal | None]:
    """The call of every team of `tree` (each team below its parent): its `decided` amount (the visible
    adjustment, else its own submission) where it has one, else the Σ of the calls of its sub-teams and
    of `users` — (the team a user is counted in directly, the user's call)."""
    parts: dict[int, list[Decimal | None]] = {team: [] for team in tree}
    for team, call in users:
        if team in parts:
            parts[team].append(call)
    below: dict[int, list[int]] = {team: [] for team in tree}
    for team, node in tree.items():
        if node.parent_id in below:
            below[node.parent_id].append(team)
    calls: dict[int, Decimal | None] = {}
    # Depth first, each team after its sub-teams (every team is worked out: each may be a row).
    stack = [(team, False) for team, node in tree.items() if node.parent_id not in below]
    while stack:
        team, expanded = stack.pop()
        if expanded:
            own = decided.get(team)
            calls[team] = own if own is not None else summed([*(calls[t] for t in below[team]), *parts[team]])
        else:
            stack.append((team, True))
            stack.extend((t, False) for t in below[team])
    return calls


def row(
    subject: Subject,
    figures: Figures | None,
    *,
    goal: Decimal | None,
    submission: Any,
    submissions_total: Decimal | None,
    ended: bool,
    open_: bool,
    adjustment: Any = None,
    call: Decimal | None = None,
    keys: tuple[tuple[str, int | None], ...] = (),
) -> Row:
    """The row of `subject` from its deal figures (None: no deals), its goal, its latest submission (a
    record with .amount), for a team the Σ of its counted users' submissions, the adjustment in force
    that the viewer may see, and its call (the viewer's, worked out over the tree)."""
    figures = figures or NO_DEALS
    keys = keys or ((subject.kind, subject.id),)
    return Row(
        subject, figures, not open_, goal, submission, submissions_total, ended, adjustment, call, keys
    )


CENT = Decimal("0.01")


def cents(amount: Decimal) -> Decimal:
    """An amount rounded half-even to cents, as the API shows money."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def apportioned(
    amounts: Sequence[Decimal], total: Decimal, eligible: Sequence[bool] | None = None
) -> list[Decimal]:
    """The amounts in cents, adding up to exactly `total` (in cents; within a cent per amount of their
    exact sum): each rounded down, then the cents still missing go one each to the largest remainders, or
    the cents too many come off the smallest (ties: first). Only `eligible` amounts (default: every one)
    take a correction, unless none is."""
    floors = [a.quantize(CENT, rounding=ROUND_FLOOR) for a in amounts]
    left = int((total - sum(floors, Decimal(0))) / CENT)
    chosen = [n for n in range(len(amounts)) if eligible is None or eligible[n]] or list(range(len(amounts)))
    by_remainder = sorted(chosen, key=lambda n: floors[n] - amounts[n])  # largest remainder first
    if left < 0:
        by_remainder.reverse()
    for turn in range(abs(left)):
        floors[by_remainder[turn % len(by_remainder)]] += CENT if left > 0 else -CENT
    return floors
