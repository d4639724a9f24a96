"""Predictions of forecast rows (docs/domain.md §9): the stage outcome rates learned from the deals closed
during the lookback (the four ended periods before the period, or before the current one for a later
period), and each row's range from its open deals (resolvers/forecasts/prediction.py).

Two statements per table whatever its rows: the rates (kept per lookback), and every row key's open deals
grouped by stage, from the stage rollups (db/predictions.py). A row of several top teams adds up their
groups, never their percentiles.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from db import predictions
from db.forecasts.table import Rows
from db.periods import Period, period_containing
from db.pipelines import StageRecord
from db.sql import OwnerScope
from resolvers.context import Context
from resolvers.forecasts import access
from resolvers.forecasts.prediction import Group, OpenDeals, Prediction, predict
from resolvers.pipelines import company_settings, current_period, stages_of

LOOKBACK = 4  # ended periods the rates are learned from
PRIOR = 10  # the weight, in deals, of a stage's configured probability in its win rate

Key = tuple[str, int | None]


@dataclass(frozen=True, slots=True)
class StageRate:
    stage_id: int
    win_rate: float
    slip_rate: float
    observed: int

    @property
    def chance(self) -> float:
        """A deal's chance of closing won within its period from this stage."""
        return self.win_rate * (1.0 - self.slip_rate)


@dataclass(frozen=True, slots=True)
class Rates:
    stages: list[StageRate]  # display order
    basis: int  # closed deals learned from
    at: datetime  # the lookback's end: what was known then

    @property
    def chances(self) -> dict[int, float]:
        return {s.stage_id: s.chance for s in self.stages}


@dataclass(frozen=True, slots=True)
class RowPrediction:
    prediction: Prediction
    basis: int


def lookback(period: Period, fiscal_start: int, today: date | None = None) -> tuple[Period, Period, datetime]:
    """The first and last period of a period's lookback, and the moment it ends (the start of the period,
    or of the current period when the period is later)."""
    current = period_containing(today or date.today(), period.kind, fiscal_start)
    ending = min(period, current)
    return (
        ending.shifted(-LOOKBACK),
        ending.shifted(-1),
        datetime.combine(ending.start(fiscal_start), time(), UTC),
    )


def rates_of(counts: Iterable[predictions.StageCounts], basis: int, at: datetime) -> Rates:
    """w(S) = (won + PRIOR·probability(S)) ÷ (observed + PRIOR); s(S) = slipped ÷ observed (0 unobserved)."""
    return Rates(
        [
            StageRate(
                c.stage_id,
                (c.won + PRIOR * float(c.probability)) / (c.observed + PRIOR),
                c.slipped / c.observed if c.observed else 0.0,
                c.observed,
            )
            for c in counts
        ],
        basis,
        at,
    )


async def learned_rates(
    conn: AsyncConnection, pipeline_id: int, period: Period, fiscal_start: int, today: date | None = None
) -> Rates:
    first, last, at = lookback(period, fiscal_start, today)
    counts, basis = await predictions.learned(
        conn, predictions.lookback_values(pipeline_id, at, first, last, fiscal_start)
    )
    return rates_of(counts, basis, at)


def open_deals_of(
    found: Iterable[predictions.GroupRow], chances: Mapping[int, float]
) -> dict[Key, OpenDeals]:
    """Each key's open deals, grouped by stage (their owners' groups added up)."""
    by_key: dict[Key, dict[int, Group]] = {}
    for r in found:
        group = Group(r.count, r.total, r.squares, r.cubes, tuple(r.largest))
        stages = by_key.setdefault(r.key, {})
        stages[r.stage_id] = stages[r.stage_id] + group if r.stage_id in stages else group
    return {
        key: OpenDeals({stage: (chances.get(stage, 0.0), g) for stage, g in groups.items()})
        for key, groups in by_key.items()
    }


@dataclass(frozen=True, slots=True)
class Outlook:
    """What a table's predictions are made of: the learned rates and each row key's open deals."""

    rates: Rates
    deals: Mapping[Key, OpenDeals]

    def predict(self, keys: Sequence[Key], closed_won: Decimal) -> RowPrediction:
        """The prediction of a row counting the deals of these (disjoint) keys."""
        first, *others = (self.deals.get(key, OpenDeals()) for key in keys)
        return RowPrediction(predict(closed_won, sum(others, first)), self.rates.basis)


async def outlook_of(
    conn: AsyncConnection,
    pipeline_id: int,
    period: Period,
    fiscal_start: int,
    rows: Rows,
    visible: OwnerScope,
) -> Outlook:
    """The rates and the open deals of every key of a table's rows, in two statements."""
    rates = await learned_rates(conn, pipeline_id, period, fiscal_start)
    found = await predictions.open_deal_groups(
        conn, pipeline_id, period, fiscal_start, rows=rows, visible=visible
    )
    return Outlook(rates, open_deals_of(found, rates.chances))


async def outcome_rates(
    context: Context, pipeline_id: int, period: Period | None
) -> tuple[list[tuple[StageRecord, StageRate]], int]:
    """Pipeline.outcomeRates: each stage (display order) with its learned rates for the period's lookback
    (default: the current period), and how many closed deals they rest on. They are pipeline-wide
    statistics, like the stages' configured probabilities: every deal closed in the lookback counts."""
    record = await access.known_pipeline(context, pipeline_id)
    period = period or await current_period(context, record)
    await access.pipeline_and_period(context, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    async with context.engine.connect() as conn:
        rates = await learned_rates(conn, pipeline_id, period, fiscal_start)
    stages = {s.id: s for s in await stages_of(context, pipeline_id)}
    return [(stages[r.stage_id], r) for r in rates.stages if r.stage_id in stages], rates.basis
