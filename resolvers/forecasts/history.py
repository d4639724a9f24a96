"""How a forecast moved (docs/domain.md "History"): a subject's numbers at evenly spaced moments of a
period (the trend), and the waterfall of what moved its total between two moments.

As of a moment, deals are as their versions were (db.history), goals, submissions and adjustments as set
by then, exchange rates those in force on the moment's day; team structure, stage mappings, pipeline
settings and the viewer's permissions are today's. Both honour §6: only deals whose owner at the moment is
within the viewer's reach today count, and a restricted row (team-only view) has no call.
"""

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from db.deals import DealRecord
from db.forecasts import Subject
from db.forecasts.table import trend_figures
from db.history import Step, waterfall
from db.pagination import Page, PageRequest
from db.periods import Period
from db.pipelines import PipelineRecord
from db.vocabulary import TEAM, WATERFALL_STEPS, WEIGHTED
from resolvers.context import Context
from resolvers.deals import deals_by_ids
from resolvers.errors import BadUserInput
from resolvers.forecasts import access
from resolvers.forecasts.arithmetic import Row, apportioned, cents
from resolvers.forecasts.table import subject_rows
from resolvers.pipelines import company_settings

MAX_POINTS = 100
__all__ = ["Point", "Step", "Waterfall", "changes", "step_deals", "trend"]


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    row: Row


@dataclass(frozen=True, slots=True)
class Waterfall:
    """A waterfall as the API shows it: the totals in cents, and one step per kind (in WATERFALL_STEPS
    order) whose amounts, in cents, add up to exactly end − start."""

    start_total: Decimal
    end_total: Decimal
    steps: list[Step]


async def _place(
    context: Context, subject: Subject, pipeline_id: int, period: Period
) -> tuple[PipelineRecord, datetime, datetime]:
    """The pipeline (NOT_FOUND; the period must be of its kind) and the period's first and last moments,
    after checking the viewer may read the subject's forecast (else NOT_FOUND, as for a missing one)."""
    await access.rules(context)
    await access.existing(context, subject)
    [seen] = await access.can_view(context, [subject], whole_batch=True)
    if not seen:
        raise access.hidden(subject)
    pipeline = await access.pipeline_and_period(context, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    start = datetime.combine(period.start(fiscal_start), time(0), UTC)
    end = datetime.combine(period.end(fiscal_start) + timedelta(days=1), time(0), UTC)
    return pipeline, start, end


def moments(start: datetime, end: datetime, now: datetime, points: int) -> list[datetime]:
    """`points` evenly spaced moments from `start` to min(now, end); none before the period starts."""
    if not 1 <= points <= MAX_POINTS:
        raise BadUserInput(f"points is {points}: it must be between 1 and {MAX_POINTS}")
    last = min(now, end)
    if last < start:
        return []
    if points == 1:
        return [last]
    step = (last - start) / (points - 1)
    return [start + step * n for n in range(points - 1)] + [last]


async def trend(
    context: Context, subject: Subject, pipeline_id: int, period: Period, points: int
) -> list[Point]:
    """The subject's row as of each moment: its owners' figures at every moment from one pass over the
    versions changed since the first (db.forecasts.table.trend_figures), then each moment's row."""
    pipeline, start, end = await _place(context, subject, pipeline_id, period)
    at = moments(start, end, datetime.now(UTC), points)
    if not at:
        return []
    async with context.engine.connect() as conn:
        figures = await trend_figures(
            conn,
            team=subject.kind == TEAM,
            subject_id=subject.id,
            pipeline_id=pipeline.id,
            period=period,
            fiscal_start=(await company_settings(context)).fiscal_year_start_month,
            moments=at,
            weighted=pipeline.forecast_amount == WEIGHTED,
            visible=context.access.scope("deal", "view"),
        )
    # Each moment's row from its figures: the table's statement, without its rollup read, concurrently.
    rows = await asyncio.gather(
        *(
            subject_rows(context, [subject], pipeline, period, as_of=m, figures=f)
            for m, f in zip(at, figures, strict=True)
        )
    )
    return [Point(m, found[subject]) for m, found in zip(at, rows, strict=True)]


async def changes(
    context: Context, subject: Subject, pipeline_id: int, period: Period, from_: datetime, to: datetime
) -> Waterfall:
    """The waterfall of the subject's total between two moments."""
    if from_.tzinfo is None or to.tzinfo is None:
        raise BadUserInput("from and to need a time zone (an offset, or Z for UTC)")
    if not from_ < to:
        raise BadUserInput("from must be before to")
    pipeline, _, _ = await _place(context, subject, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    # The totals are the subject's as of each moment (the trend's reading); the steps, deal by deal, are
    # the versions' own reading: two computations that must agree, and do (tests/test_history.py). The
    # three statements run at once, each on its connection.

    async def steps_of() -> dict[str, Step]:
        async with context.engine.connect() as conn:
            return await waterfall(
                conn,
                team=subject.kind == TEAM,
                subject_id=subject.id,
                pipeline_id=pipeline.id,
                period=(period.start(fiscal_start), period.end(fiscal_start)),
                moments=(from_, to),
                weighted=pipeline.forecast_amount == WEIGHTED,
                visible=context.access.scope("deal", "view"),
            )

    then, now, found = await asyncio.gather(
        subject_rows(context, [subject], pipeline, period, as_of=from_),
        subject_rows(context, [subject], pipeline, period, as_of=to),
        steps_of(),
    )
    start, end = then[subject].total, now[subject].total
    steps = [found.get(kind) or Step(kind, Decimal(0), ()) for kind in WATERFALL_STEPS]
    start, end = cents(start), cents(end)
    amounts = apportioned([s.amount for s in steps], end - start, [bool(s.deal_ids) for s in steps])
    return Waterfall(start, end, [Step(s.kind, a, s.deal_ids) for s, a in zip(steps, amounts, strict=True)])


async def step_deals(context: Context, deal_ids: Sequence[int], request: PageRequest) -> Page[DealRecord]:
    """A page of a waterfall step's deals (ids ascending) that the viewer may see today; the deals of
    every step asked in a request are read together."""
    after = request.after[0] if request.after is not None else None
    rest = [d for d in deal_ids if after is None or d > after]
    loader = context.loaders.batched(("waterfall deals",), functools.partial(deals_by_ids, context))
    found = [d for d in await loader.load_many(rest) if d is not None]
    items = found[: request.first]
    return Page(
        items,
        [(d.id,) for d in items],
        has_next=len(found) > request.first,
        has_previous=after is not None,
        total=len(found) + len(deal_ids) - len(rest) if request.with_total else None,
    )
