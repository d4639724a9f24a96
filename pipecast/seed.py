"""Demo and bulk data: a company with a team tree, reps and managers, a pipeline, deals, goals, submissions
and managers' adjustments.

One generator serves both `seed --demo` (a small company with readable names and well-known accounts)
and `seed --teams T --users U --deals D` (bulk, through COPY). For a given random seed the same choices
are made every time; dates are laid out around the current fiscal quarter of the day it runs.
"""

import contextlib
import math
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Table, exists, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from authz.roles import ADMIN, SALES_MANAGER, SALES_REP, bulk_assign
from db import history
from db.periods import Period, period_containing
from db.tables import (
    company_settings,
    deal_changes,
    deal_versions,
    deals,
    exchange_rates,
    forecast_submissions,
    goals,
    pipelines,
    stages,
    team_memberships,
    teams,
    users,
)

COMPANY_CURRENCY = "USD"
SECOND_CURRENCY = "EUR"
PROGRESS_EVERY = 10_000
DEAL_COPY_COLUMNS = [
    "name", "owner_id", "pipeline_id", "stage_id", "amount", "currency", "frozen_rate", "close_date",
    "created_at", "updated_at", "forecast_category", "probability", "next_step",
]  # fmt: skip

# The classic stages of docs/domain.md: label, probability, state, mapped forecast category.
CLASSIC_STAGES = (
    ("Appointment scheduled", "0.2", "OPEN", "PIPELINE"),
    ("Qualified to buy", "0.4", "OPEN", "PIPELINE"),
    ("Presentation scheduled", "0.6", "OPEN", "BEST_CASE"),
    ("Decision maker bought-in", "0.8", "OPEN", "BEST_CASE"),
    ("Contract sent", "0.9", "OPEN", "COMMIT"),
    ("Closed won", "1.0", "WON", "CLOSED_WON"),
    ("Closed lost", "0.0", "LOST", "NOT_FORECASTED"),
)
OPEN_CATEGORIES = ("PIPELINE", "BEST_CASE", "COMMIT")

# The demo company: regions containing their own countries (the first is the root).
DEMO_TREE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("EMEA", ("Nordics", "DACH", "UK & Ireland")),
    ("Americas", ("North America", "Latin America")),
)
DEMO_TEAMS = ("Global Sales", *(region for region, _ in DEMO_TREE), *(c for _, cs in DEMO_TREE for c in cs))
DEMO_ACCOUNTS = {
    "admin": "admin@example.com",
    "manager": "manager@example.com",
    "rep": "rep@example.com",
}
FIRST_NAMES = (
    "Ingrid", "Omar", "Priya", "Lars", "Sofia", "Mateo", "Yuki", "Amara", "Jonas", "Elena", "Kwame",
    "Nora", "Diego", "Freya", "Hiro", "Leila", "Tomas", "Maya", "Aksel", "Zara", "Emil", "Chloe", "Ravi",
    "Sigrid", "Bruno", "Ines", "Felix", "Hanna", "Kofi", "Aiko", "Mateus", "Olga", "Samir", "Vera",
    "Anders", "Lucia", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Berg", "Okafor", "Sato", "Novak", "Silva", "Müller", "Haddad", "Rossi", "Kim", "Dubois", "Costa",
    "Weber", "Andersen", "Moreau", "Lindqvist", "Tanaka", "Mensah", "Kowalski", "Fernández", "Nakamura",
    "Ahmed", "Schmidt", "O'Connor", "Petrov", "Santos", "Eriksen", "Bauer", "Ito", "Mwangi", "Larsen",
    "Rahman",
)  # fmt: skip
ACCOUNTS = (
    "Acme Logistics", "Fjord Seafood", "Nordlys Energi", "Polar Freight", "Aurora Health", "Vinter Sport",
    "Summit Bank", "Harbor Insurance", "Granite Construction", "Cobalt Mining", "Lumen Media",
    "Atlas Retail", "Boreal Pharma", "Cedar Hotels", "Delta Airlines Cargo", "Ember Foods",
    "Falcon Security", "Glacier Water", "Helix Biotech", "Ion Telecom", "Kestrel Motors", "Linde Dairy",
)  # fmt: skip
PRODUCTS = ("renewal", "expansion", "new licences", "pilot", "enterprise plan", "support upgrade")
NEXT_STEPS = ("Book a demo", "Send the proposal", "Call the CFO", "Follow up on legal review", None, None)


class NotEmpty(RuntimeError):
    """The database already holds a company."""


@dataclass(frozen=True)
class SeedPlan:
    teams: int
    users: int
    deals: int
    random_seed: int = 1
    demo: bool = False
    today: date = field(default_factory=date.today)


@dataclass(frozen=True)
class SeedSummary:
    teams: int
    users: int
    deals: int
    accounts: dict[str, int]  # demo role → user id


DEMO_PLAN = SeedPlan(teams=len(DEMO_TEAMS), users=36, deals=600, random_seed=7, demo=True)

Progress = Callable[[int], None]


async def is_empty(conn: AsyncConnection) -> bool:
    taken = select(
        or_(exists().select_from(pipelines), exists().select_from(teams), exists().select_from(deals))
    )
    return not await conn.scalar(taken)


async def seed(conn: AsyncConnection, plan: SeedPlan, progress: Progress = lambda _: None) -> SeedSummary:
    """Seed into an empty database, inside the caller's transaction."""
    if not await is_empty(conn):
        raise NotEmpty("the database already has teams, pipelines or deals: seed into an empty database")
    rng = random.Random(plan.random_seed)
    await conn.execute(company_settings.update().values(currency=COMPANY_CURRENCY, fiscal_year_start_month=1))
    rates = await _exchange_rates(conn, plan.today)
    pipeline_id, stage_rows = await _pipeline(conn)
    team_ids = await _teams(conn, plan)
    people = await _people(conn, plan, rng, team_ids)
    async with _without_deal_indexes(conn):
        await _deals(
            conn,
            plan,
            rng=rng,
            pipeline_id=pipeline_id,
            stage_rows=stage_rows,
            owners=people.owners,
            rates=rates,
            progress=progress,
        )
        await _history(conn, plan)
        await _lifecycles(conn, plan, pipeline_id)
        # The versions the COPY's trigger wrote know nothing of the history written after it: those of
        # the deals with a history are rebuilt from it.
        changed = "SELECT deal_id FROM deal_changes"
        await conn.execute(text(f"DELETE FROM deal_versions WHERE deal_id IN ({changed})"))
        await conn.execute(text(history.backfill_statement(changed_only=True)))
    await _goals_and_submissions(
        conn, plan, rng=rng, pipeline_id=pipeline_id, team_ids=team_ids, people=people
    )
    # Fresh statistics for every table the seed filled: without them the planner guesses a handful of
    # rows for the teams, users and rollups, and chooses plans that cost the first minutes of use.
    await conn.execute(text("ANALYZE"))
    return SeedSummary(len(team_ids), len(people.owners) + 1, plan.deals, people.accounts)


async def _exchange_rates(conn: AsyncConnection, today: date) -> list[tuple[date, Decimal]]:
    rates = [
        (today - timedelta(days=800), Decimal("1.0480000000")),  # before the earliest seeded deal
        (today - timedelta(days=365), Decimal("1.0650000000")),
        (today - timedelta(days=120), Decimal("1.0820000000")),
        (today - timedelta(days=30), Decimal("1.0910000000")),
    ]
    await conn.execute(
        insert(exchange_rates),
        [{"currency": SECOND_CURRENCY, "rate": rate, "valid_from": day} for day, rate in rates],
    )
    return rates


async def _pipeline(conn: AsyncConnection) -> tuple[int, list[tuple[int, str]]]:
    pipeline_id: int = (
        await conn.execute(
            insert(pipelines).values(name="Sales pipeline", period_kind="QUARTER").returning(pipelines.c.id)
        )
    ).scalar_one()
    rows = await conn.execute(
        insert(stages).returning(stages.c.id, stages.c.state, sort_by_parameter_order=True),
        [
            {
                "pipeline_id": pipeline_id,
                "label": label,
                "display_order": order,
                "probability": Decimal(probability),
                "state": state,
                "forecast_category": category,
            }
            for order, (label, probability, state, category) in enumerate(CLASSIC_STAGES, start=1)
        ],
    )
    return pipeline_id, [(row.id, row.state) for row in rows]


async def _teams(conn: AsyncConnection, plan: SeedPlan) -> list[int]:
    """A tree of three levels: one root, about √T regions under it, the rest spread under the regions."""
    count = max(1, plan.teams)
    middle = min(count - 1, max(1, math.isqrt(count - 1))) if count > 1 else 0
    if plan.demo:
        root = await _insert_ids(conn, teams, [{"name": DEMO_TEAMS[0], "parent_id": None}])
        regions = await _insert_ids(conn, teams, [{"name": r, "parent_id": root[0]} for r, _ in DEMO_TREE])
        countries = [
            {"name": country, "parent_id": region}
            for region, (_, names_) in zip(regions, DEMO_TREE, strict=True)
            for country in names_
        ]
        return root + regions + await _insert_ids(conn, teams, countries)
    names = ["Sales", *(f"Team {n}" for n in range(2, count + 1))]
    root = await _insert_ids(conn, teams, [{"name": names[0], "parent_id": None}])
    regions = await _insert_ids(
        conn, teams, [{"name": names[i], "parent_id": root[0]} for i in range(1, middle + 1)]
    )
    leaves = await _insert_ids(
        conn,
        teams,
        [
            {"name": names[i], "parent_id": regions[(i - middle - 1) % len(regions)]}
            for i in range(middle + 1, count)
        ],
    )
    return root + regions + leaves


@dataclass
class _People:
    owners: list[int]  # every seeded user but the admin
    seated: list[int]
    primary_team: dict[int, int]
    accounts: dict[str, int]
    admin: int


def _person(n: int) -> str:
    """The n-th seeded person's name: first and last names step through their lists at different paces
    (their lengths are coprime), so neighbours — a team's manager and reps — share neither."""
    return (
        f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[(n * 7 + n // len(LAST_NAMES)) % len(LAST_NAMES)]}"
    )


async def _people(conn: AsyncConnection, plan: SeedPlan, rng: random.Random, team_ids: list[int]) -> _People:
    count = max(plan.users, 1)
    rows: list[dict[str, object]] = [
        {"name": "Ada Admin", "email": DEMO_ACCOUNTS["admin"], "sales_seat": False}
    ]
    for n in range(count):
        name = _person(n)
        rows.append({"name": name, "email": f"user{n + 1}@example.com", "sales_seat": rng.random() < 0.92})
    # The first user of each team manages it; the demo's manager runs the second level's first region.
    managers = min(len(team_ids), count)
    if plan.demo:
        rows[2]["email"], rows[2]["sales_seat"] = DEMO_ACCOUNTS["manager"], True
        rows[managers + 1]["email"], rows[managers + 1]["sales_seat"] = DEMO_ACCOUNTS["rep"], True
    ids = await _insert_ids(conn, users, rows)
    admin, staff = ids[0], ids[1:]
    primary: dict[int, int] = {}
    memberships: list[dict[str, object]] = []
    leaf_start = 1 + min(len(team_ids) - 1, max(1, math.isqrt(len(team_ids) - 1))) if len(team_ids) > 1 else 0
    leaves = team_ids[leaf_start:] or team_ids
    for n, user_id in enumerate(staff):
        if n < managers:
            team, role = team_ids[n], "MANAGER"
        else:
            team, role = (leaves[0] if plan.demo and n == managers else rng.choice(leaves)), "MEMBER"
        primary[user_id] = team
        memberships.append({"team_id": team, "user_id": user_id, "role": role, "is_primary": True})
        if role == "MEMBER" and len(team_ids) > 1 and rng.random() < 0.1:
            extra = rng.choice([t for t in team_ids if t != team])
            memberships.append({"team_id": extra, "user_id": user_id, "role": "MEMBER", "is_primary": False})
    await conn.execute(insert(team_memberships), memberships)
    await bulk_assign(
        conn,
        [(admin, ADMIN)] + [(u, SALES_MANAGER if n < managers else SALES_REP) for n, u in enumerate(staff)],
    )
    seated = [user_id for user_id, row in zip(ids, rows, strict=True) if row["sales_seat"]]
    accounts = {"admin": admin}
    if plan.demo:
        accounts |= {"manager": staff[1], "rep": staff[managers]}
    return _People(staff, seated, primary, accounts, admin)


async def _deals(
    conn: AsyncConnection,
    plan: SeedPlan,
    *,
    rng: random.Random,
    pipeline_id: int,
    stage_rows: list[tuple[int, str]],
    owners: list[int],
    rates: list[tuple[date, Decimal]],
    progress: Progress,
) -> None:
    quarter = period_containing(plan.today, "QUARTER")
    # Most deals close between the previous quarter and the next; a share closed in the six quarters
    # before, the past that predictions learn from (their stage walks: _lifecycles).
    earliest, first, last = quarter.shifted(-7).start(), quarter.shifted(-1).start(), quarter.shifted(1).end()
    span, past = (last - first).days, (first - earliest).days
    past_share = 1 / 3 if plan.demo else 0.1
    now = datetime.combine(plan.today, time(12), UTC)
    open_stages = [s for s in stage_rows if s[1] == "OPEN"]
    closed_stages = [s for s in stage_rows if s[1] != "OPEN"]
    won = next(s for s in stage_rows if s[1] == "WON")

    def rate_on(day: date) -> Decimal:
        return max((r for r in rates if r[0] <= day), default=rates[0])[1]

    days = [earliest + timedelta(days=d) for d in range(past + span + 1)]
    mornings = [datetime.combine(day, time(9), UTC) for day in days]
    lead_times = [timedelta(days=d) for d in range(5, 200)]
    touch = [timedelta(days=d) for d in range(4)]
    spread = [timedelta(days=d, hours=h) for d in range(91) for h in (3, 11, 17)]
    frozen_on = [rate_on(min(day, plan.today)) for day in days]
    # Bulk amounts have odd cents (every rounding path gets exercised); the demo's are what people quote.
    amounts = (
        [Decimal(dollars) for dollars in range(1_500, 150_000, 250)]
        if plan.demo
        else [Decimal(cents).scaleb(-2) for cents in range(50_000, 15_000_000, 137)]
    )
    overrides = [Decimal(p).scaleb(-2) for p in range(5, 96)]
    randbelow, random_ = rng.randrange, rng.random

    def rows() -> Iterator[tuple[object, ...]]:
        for n in range(plan.deals):
            d = randbelow(past) if random_() < past_share else past + randbelow(span + 1)
            if days[d] < plan.today and random_() < 0.75:
                stage = won if random_() < 0.6 else closed_stages[randbelow(len(closed_stages))]
            else:
                stage = open_stages[randbelow(len(open_stages))]
            stage_id, state = stage
            is_open = state == "OPEN"
            manual = (
                OPEN_CATEGORIES[randbelow(len(OPEN_CATEGORIES))] if is_open and random_() < 0.08 else None
            )
            foreign = random_() < 0.15
            created = mornings[d] - lead_times[randbelow(len(lead_times))]
            if created > now:  # a deal of the future was entered at some point of the last quarter
                created = now - spread[n % len(spread)]
            yield (
                f"{ACCOUNTS[n % len(ACCOUNTS)]} — {PRODUCTS[randbelow(len(PRODUCTS))]}"
                + ("" if plan.demo else f" #{n + 1}"),
                None if random_() < 0.04 else owners[randbelow(len(owners))],
                pipeline_id,
                stage_id,
                amounts[randbelow(len(amounts))],
                SECOND_CURRENCY if foreign else COMPANY_CURRENCY,
                frozen_on[d] if foreign and not is_open else None,
                days[d],
                created,
                min(now, created + touch[randbelow(len(touch))]),
                manual,
                overrides[randbelow(len(overrides))] if is_open and random_() < 0.05 else None,
                NEXT_STEPS[randbelow(len(NEXT_STEPS))],
            )

    async def streamed() -> AsyncIterator[tuple[object, ...]]:
        for n, row in enumerate(rows(), start=1):
            yield row
            if n % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        progress(plan.deals % PROGRESS_EVERY)

    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    # One streamed COPY: PostgreSQL stores rows while Python generates the next ones.
    await raw.copy_records_to_table("deals", records=streamed(), columns=DEAL_COPY_COLUMNS)


@contextlib.asynccontextmanager
async def _without_deal_indexes(conn: AsyncConnection) -> AsyncIterator[None]:
    """Bulk loads skip per-row index upkeep (of the deals and of their versions) and the foreign-key
    triggers of the deals and their recorded changes; both are rebuilt, and the keys checked, in one
    pass each afterwards (all inside the caller's transaction)."""
    foreign_keys = sorted(
        [*deals.foreign_key_constraints, *deal_changes.foreign_key_constraints], key=lambda fk: str(fk.name)
    )
    indexes = sorted([*deals.indexes, *deal_versions.indexes], key=lambda ix: str(ix.name))
    for fk in foreign_keys:
        await conn.execute(DropConstraint(fk))
    for ix in indexes:
        await conn.execute(DropIndex(ix))
    yield
    for ix in indexes:
        await conn.execute(CreateIndex(ix))
    for fk in foreign_keys:
        await conn.execute(AddConstraint(fk))


async def _goals_and_submissions(
    conn: AsyncConnection,
    plan: SeedPlan,
    *,
    rng: random.Random,
    pipeline_id: int,
    team_ids: list[int],
    people: _People,
) -> None:
    current = period_containing(plan.today, "QUARTER")
    periods: list[Period] = [current.shifted(-1), current]
    goal_rows: list[dict[str, object]] = []
    submission_rows: list[dict[str, object]] = []
    for period in periods:
        for user_id in people.seated:
            goal = Decimal(rng.randrange(40, 400) * 1000)
            goal_rows.append(_subject_row(user_id, None, pipeline_id, period, goal, set_by=people.admin))
            for _ in range(rng.choice((0, 1, 1, 2))):
                amount = (goal * Decimal(rng.randrange(50, 130)) / 100).quantize(Decimal("0.01"))
                submission_rows.append(
                    _subject_row(user_id, None, pipeline_id, period, amount, submitted_by=user_id)
                    | {"note": rng.choice((None, "Two deals slipping to next quarter", "Commit looks solid"))}
                )
        root = team_ids[0]
        team_goal = Decimal(len(people.seated) * 180_000)
        goal_rows.append(_subject_row(None, root, pipeline_id, period, team_goal, set_by=people.admin))
    await conn.execute(insert(goals), goal_rows)
    if submission_rows:
        await conn.execute(insert(forecast_submissions), submission_rows)
    await _adjustments(conn, pipeline_id, current)


async def _adjustments(conn: AsyncConnection, pipeline_id: int, period: Period) -> None:
    """Managers' calls for the current period: a third of the reps who submitted are re-judged by the
    manager of their primary team (at 85 % of their latest submission), and every other region by the
    root team's manager (at 90 % of its counted users' goals) — hidden from the region's own manager."""
    await conn.execute(
        text(
            """
            INSERT INTO forecast_adjustments
                (user_id, team_id, pipeline_id, period, amount, note, adjusted_by)
            (SELECT DISTINCT ON (s.user_id) s.user_id, NULL::bigint, s.pipeline_id, s.period,
                   round(s.amount * 0.85, 2), 'Discounted: this pipeline has slipped before', boss.user_id
            FROM forecast_submissions s
            JOIN team_memberships own ON own.user_id = s.user_id AND own.is_primary
            JOIN team_memberships boss ON boss.team_id = own.team_id AND boss.role = 'MANAGER'
             AND boss.user_id <> s.user_id
            WHERE s.pipeline_id = :pipeline AND s.period = :period AND s.user_id % 3 = 0
            ORDER BY s.user_id, s.submitted_at DESC, s.id DESC)
            UNION ALL
            (SELECT NULL, region.id, :pipeline, :period, round(sum(g.amount) * 0.9, 2),
                   'Two renewals will slip to next quarter', min(boss.user_id)
            FROM teams region
            JOIN teams root ON root.id = region.parent_id AND root.parent_id IS NULL
            JOIN team_memberships boss ON boss.team_id = root.id AND boss.role = 'MANAGER'
            JOIN teams part ON part.id = region.id OR part.parent_id = region.id
            JOIN team_memberships m ON m.team_id = part.id AND m.is_primary
            JOIN goals g ON g.user_id = m.user_id AND g.pipeline_id = :pipeline AND g.period = :period
            WHERE region.id % 2 = 0
            GROUP BY region.id)
            """
        ),
        {"pipeline": pipeline_id, "period": period.key},
    )


async def _history(conn: AsyncConnection, plan: SeedPlan) -> None:
    """Recorded changes inside the current quarter for deals that existed before it, so the demo's signals
    move: a third of the open deals moved forward a stage (some backward), a fifth had their amount
    raised from 80 %. Each change is dated between the deal's creation and today, by its owner."""
    quarter = period_containing(plan.today, "QUARTER")
    start, now = quarter.start(), datetime.combine(plan.today, time(12), UTC)
    days = max((plan.today - start).days, 1)
    await conn.execute(
        text(
            """
            INSERT INTO deal_changes (deal_id, at, actor_id, field, old_value, new_value)
            SELECT d.id,
                   least(CAST(:now AS timestamptz),
                         CAST(:start AS timestamptz)
                         + make_interval(days => ((d.id * 37) % :days)::int, hours => 10)),
                   d.owner_id, 'stage', earlier.id::text, d.stage_id::text
            FROM deals d JOIN stages s ON s.id = d.stage_id
            JOIN stages earlier ON earlier.pipeline_id = s.pipeline_id AND earlier.state = 'OPEN'
             AND earlier.display_order = s.display_order + CASE WHEN d.id % 7 = 0 THEN 1 ELSE -1 END
            WHERE s.state = 'OPEN' AND d.id % 3 = 0 AND d.created_at < CAST(:start AS timestamptz)
            UNION ALL
            SELECT d.id,
                   least(CAST(:now AS timestamptz),
                         CAST(:start AS timestamptz)
                         + make_interval(days => ((d.id * 11) % :days)::int, hours => 15)),
                   d.owner_id, 'amount', round(d.amount * 0.8, 2)::text, d.amount::text
            FROM deals d JOIN stages s ON s.id = d.stage_id
            WHERE s.state = 'OPEN' AND d.id % 5 = 0 AND d.created_at < CAST(:start AS timestamptz)
            ORDER BY 2
            """
        ),
        {"start": datetime.combine(start, time(0), UTC), "now": now, "days": days},
    )


async def _lifecycles(conn: AsyncConnection, plan: SeedPlan, pipeline_id: int) -> None:
    """The recorded stage walks of the closed deals: each entered the first open stage when created and
    moved up one stage at a time, evenly over its life, to the last open stage it reached (every one for
    a won deal, one to all for a lost one), then closed on its close date; a quarter of them had their
    close date pushed 60 days at mid-life (slipped). So learned win and slip rates differ by stage, and
    from the configured probabilities. Bulk data walks a sixteenth of its closed deals (thousands
    in a lookback, plenty to learn from): rebuilding the versions of all would triple the seed's time."""
    await conn.execute(
        text(
            """
            INSERT INTO deal_changes (deal_id, at, actor_id, field, old_value, new_value)
            WITH walk AS (
              SELECT id, row_number() OVER (ORDER BY display_order) AS ord FROM stages
              WHERE pipeline_id = :pipeline AND state = 'OPEN'
            ), closed AS (
              SELECT d.id, d.owner_id, d.stage_id, d.created_at, d.close_date,
                     (d.close_date + time '09:00') AT TIME ZONE 'UTC' AS closed_at,
                     CASE WHEN s.state = 'WON' THEN (SELECT count(*) FROM walk)
                          ELSE 1 + d.id % (SELECT count(*) FROM walk) END AS reached
              FROM deals d JOIN stages s ON s.id = d.stage_id
              WHERE d.pipeline_id = :pipeline AND s.state <> 'OPEN' AND d.close_date < :today
                AND d.id % :every = 0
            ), steps AS (
              SELECT c.*, w.ord, w.id AS step, lag(w.id) OVER (PARTITION BY c.id ORDER BY w.ord) AS before
              FROM closed c JOIN walk w ON w.ord <= c.reached
            )
            SELECT id, created_at + (closed_at - created_at) * (ord - 1) / reached, owner_id, 'stage',
                   before::text, step::text
            FROM steps WHERE ord > 1
            UNION ALL
            SELECT id, closed_at, owner_id, 'stage', step::text, stage_id::text FROM steps WHERE ord = reached
            UNION ALL
            SELECT id, created_at + (closed_at - created_at) / 2 + interval '1 minute', owner_id, 'closeDate',
                   (close_date - 60)::text, close_date::text
            FROM closed WHERE id % 4 = 0 AND created_at::date < close_date - 60
            ORDER BY 2
            """
        ),
        {"pipeline": pipeline_id, "today": plan.today, "every": 1 if plan.demo else 16},
    )


def _subject_row(
    user_id: int | None,
    team_id: int | None,
    pipeline_id: int,
    period: Period,
    amount: Decimal,
    **extra: object,
) -> dict[str, object]:
    return {
        "user_id": user_id,
        "team_id": team_id,
        "pipeline_id": pipeline_id,
        "period": period.key,
        "amount": amount,
    } | extra


async def _insert_ids(conn: AsyncConnection, table: Table, rows: list[dict[str, object]]) -> list[int]:
    if not rows:
        return []
    result = await conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [row.id for row in result]
