"""A forecast row's numbers from its figures, exactly as docs/domain.md defines them: pure arithmetic on
exact decimals, no database (tests/test_forecast_arithmetic.py works them out by hand).

- categories: per forecast category the forecast amount (weighted or raw, per the pipeline, as the
  figures come; CLOSED_WON is always closedWon) and the deal count, all five always listed;
- total: the forecast amounts of PIPELINE, BEST_CASE, COMMIT and CLOSED_WON;
- goal-derived numbers (gap, attainment, coverages) only with a goal (ratios only when it is not 0);
- accuracy only for a period that has ended, with a submission and closedWon not 0;
- a restricted row (the team-only view) hides its goal, submissions and everything derived from them.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from db.forecasts import Subject
from db.forecasts.table import NO_DEALS, Figures
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
        amounts = self.figures.amounts
        return sum((amounts[n] for n in _IN_TOTAL), ZERO)

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


def row(
    subject: Subject,
    figures: Figures | None,
    *,
    goal: Decimal | None,
    submission: Any,
    submissions_total: Decimal | None,
    ended: bool,
    open_: bool,
) -> Row:
    """The row of `subject` from its deal figures (None: no deals), its goal, its latest submission (a
    record with .amount) and, for a team, the Σ of its counted users' submissions."""
    return Row(subject, figures or NO_DEALS, not open_, goal, submission, submissions_total, ended)
