"""`pipecast backtest`: how the predictions (docs/domain.md §9) would have done on the pipeline's own past.

For each of the last N ended periods and each subject (the company, every team, every sales-seat user):
the range as it would have been at the period's start — rates learned from the four periods before it as
the deal versions stood then, the deals as their versions were then, amounts at that day's rates — against
what actually closed won in the period (today's figures). A subject counts when it had open deals at the
start or closed something in the period. Printed: per period and overall, how many subjects, the share
whose outcome fell within P10–P90, and the median absolute (and relative) error of P50.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.forecasts.table import COMPANY, Rows, table_facts
from db.periods import Period, period_containing
from db.predictions import learned, lookback_values, open_deal_groups
from db.sql import OwnerScope
from db.tables import company_settings, pipelines, teams
from db.vocabulary import CLOSED_WON, FORECAST_CATEGORIES, TEAM, USER, WEIGHTED
from resolvers.forecasts.outlook import LOOKBACK, Key, open_deals_of, rates_of
from resolvers.forecasts.prediction import OpenDeals, predict

EVERYONE = OwnerScope("everyone", lambda owner: None, {})
_CLOSED_WON = FORECAST_CATEGORIES.index(CLOSED_WON)


@dataclass(frozen=True, slots=True)
class Outcome:
    period: Period
    key: Key
    p10: Decimal
    p50: Decimal
    p90: Decimal
    actual: Decimal

    @property
    def covered(self) -> bool:
        return self.p10 <= self.actual <= self.p90

    @property
    def error(self) -> Decimal:
        return abs(self.p50 - self.actual)


@dataclass(frozen=True, slots=True)
class Summary:
    label: str
    subjects: int
    coverage: float
    median_error: Decimal
    median_relative: float | None  # over subjects that closed something


def summarize(label: str, outcomes: Sequence[Outcome]) -> Summary:
    relative = [float(o.error / o.actual) for o in outcomes if o.actual > 0]
    return Summary(
        label,
        len(outcomes),
        sum(o.covered for o in outcomes) / len(outcomes) if outcomes else 0.0,
        statistics.median(o.error for o in outcomes) if outcomes else Decimal(0),
        statistics.median(relative) if relative else None,
    )


class UnknownPipeline(LookupError):
    pass


async def pipeline_of(conn: AsyncConnection, name: str | None) -> tuple[int, str, str, bool]:
    """(id, name, period kind, weighted) of the pipeline with that name, or the oldest one."""
    p = pipelines.c
    query = select(p.id, p.name, p.period_kind, p.forecast_amount).order_by(p.id).limit(1)
    found = (await conn.execute(query.where(p.name == name) if name is not None else query)).first()
    if found is None:
        raise UnknownPipeline(f"no pipeline named {name!r}" if name is not None else "there is no pipeline")
    return found.id, found.name, found.period_kind, found.forecast_amount == WEIGHTED


async def backtest(
    conn: AsyncConnection, pipeline_name: str | None, periods: int, today: date | None = None
) -> tuple[str, list[Outcome]]:
    """Every counted (period, subject) outcome of the last `periods` ended periods, oldest first."""
    pipeline_id, name, kind, weighted = await pipeline_of(conn, pipeline_name)
    fiscal_start = int(await conn.scalar(select(company_settings.c.fiscal_year_start_month)) or 1)
    team_ids = list((await conn.scalars(select(teams.c.id).order_by(teams.c.id))).all())
    current = period_containing(
        today or date.today(), "MONTH" if kind == "MONTH" else "QUARTER", fiscal_start
    )
    rows = Rows(every_user=True, team_ids=team_ids, company=True)
    outcomes: list[Outcome] = []
    for steps in range(periods, 0, -1):
        period = current.shifted(-steps)
        start = datetime.combine(period.start(fiscal_start), time(), UTC)
        lookback = lookback_values(
            pipeline_id, start, period.shifted(-LOOKBACK), period.shifted(-1), fiscal_start
        )
        rates = rates_of(*(await learned(conn, lookback, cached=False)), start)
        then = await table_facts(
            conn, pipeline_id, period, fiscal_start, rows, weighted=weighted, visible=EVERYONE, as_of=start
        )
        now = await table_facts(
            conn, pipeline_id, period, fiscal_start, rows, weighted=weighted, visible=EVERYONE
        )
        found = await open_deal_groups(
            conn, pipeline_id, period, fiscal_start, rows=rows, visible=EVERYONE, as_of=start
        )
        deals = open_deals_of(found, rates.chances)
        for key, facts in now.rows.items():
            kind_, id_ = key
            if kind_ not in (USER, TEAM, COMPANY):
                continue
            actual = facts.figures.amounts[_CLOSED_WON] if facts.figures else Decimal(0)
            earlier = then.rows.get(key)
            won_then = earlier.figures.amounts[_CLOSED_WON] if earlier and earlier.figures else Decimal(0)
            open_then = deals.get((kind_, id_), OpenDeals())
            if open_then.count == 0 and actual == 0:
                continue
            p = predict(won_then, open_then)
            outcomes.append(Outcome(period, (kind_, id_), p.p10, p.p50, p.p90, actual))
    return name, outcomes
