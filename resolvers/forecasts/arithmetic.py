"""A forecast row's numbers from its figures, exactly as DOMAIN.md §5 defines them: pure arithmetic on
exact decimals, no database (tests/test_forecast_arithmetic.py works them out by hand).

- categories: per forecast category the forecast amount (weighted or raw, per the pipeline; CLOSED_WON
  is always closedWon) and the deal count, all five always listed;
- total: the forecast amounts of PIPELINE, BEST_CASE, COMMIT and CLOSED_WON;
- goal-derived numbers (gap, attainment, coverages) only with a goal (ratios only when it is not 0);
- accuracy only for a period that has ended, with a submission and closedWon not 0;
- a restricted row (the team-only view) hides its goal, submissions and everything derived from them.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from db.forecasts import Subject
from db.forecasts.figures import NO_DEALS, Figures
from db.vocabulary import CLOSED_WON, FORECAST_CATEGORIES, IN_TOTAL

ZERO = Decimal(0)
_CLOSED_WON = FORECAST_CATEGORIES.index(CLOSED_WON)
_IN_TOTAL = tuple(FORECAST_CATEGORIES.index(name) for name in IN_TOTAL)


@dataclass(frozen=True, slots=True)
class Row:
    """One subject's numbers for a pipeline and period (unrounded; the API rounds money to cents)."""

    subject: Subject
    closed_won: Decimal
    pipeline_value: Decimal
    categories: tuple[tuple[str, Decimal, int], ...]
    total: Decimal
    weighted_pipeline: Decimal
    deal_count: int
    restricted: bool
    goal: Decimal | None = None
    gap: Decimal | None = None
    goal_attainment: float | None = None
    pipeline_coverage: float | None = None
    total_coverage: float | None = None
    submission: Any = None  # the latest submission's record, when open
    submissions_total: Decimal | None = None
    accuracy: float | None = None

    @property
    def submitted(self) -> Decimal | None:
        """The latest submission's amount (None without one, or when hidden)."""
        return self.submission.amount if self.submission is not None else None


def ratio(part: Decimal, whole: Decimal | None) -> float | None:
    return None if whole is None or whole == 0 else float(part / whole)


def row(
    subject: Subject,
    figures: Figures | None,
    *,
    weighted: bool,
    goal: Decimal | None,
    submission: Any,
    submitted: Decimal | None,
    submissions_total: Decimal | None,
    ended: bool,
    open_: bool,
) -> Row:
    """The row of `subject` from its deal figures (None: no deals), its goal, its latest submission (the
    record, and its amount `submitted`) and, for a team, the Σ of its counted users' submissions."""
    figures = figures or NO_DEALS
    closed_won = figures.amounts[_CLOSED_WON]
    amounts = figures.weighted if weighted else figures.amounts
    categories = tuple(
        (name, closed_won if n == _CLOSED_WON else amounts[n], figures.counts[n])
        for n, name in enumerate(FORECAST_CATEGORIES)
    )
    total = sum((categories[n][1] for n in _IN_TOTAL), ZERO)
    numbers: dict[str, Any] = {
        "subject": subject,
        "closed_won": closed_won,
        "pipeline_value": figures.pipeline_value,
        "categories": categories,
        "total": total,
        "weighted_pipeline": figures.weighted_pipeline,
        "deal_count": figures.deal_count,
        "restricted": not open_,
    }
    if open_:
        numbers |= {"goal": goal, "submission": submission, "submissions_total": submissions_total}
        if goal is not None:
            numbers |= {
                "gap": goal - closed_won,
                "goal_attainment": ratio(closed_won, goal),
                "pipeline_coverage": ratio(figures.pipeline_value, goal),
                "total_coverage": ratio(total, goal),
            }
        if ended and submitted is not None and closed_won != 0:
            numbers["accuracy"] = max(0.0, 1 - float(abs(closed_won - submitted) / closed_won))
    return Row(**numbers)
