"""What a forecast table's rows are made of (docs/domain.md), read in ONE statement whatever the number of
rows: its users (with their teams), each row's deal figures from the rollups (db/rollups.py), its latest
goal, submission and adjustment, for a team the Σ of its counted users' latest goals and submissions, and
the tree below the team rows (each team's parent, latest submission and adjustment) that a team's call is
made of. PostgreSQL groups and sums; Python only does each row's arithmetic and the calls, which depend on
the viewer (resolvers/forecasts/arithmetic.py).

A team's figures add up its *counted users*: the sales-seat users whose primary team is the team or one
of its descendants; the company's every sales-seat user. Deals without an owner, or owned by users
without a seat, count in no row.
"""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Numeric,
    Select,
    SmallInteger,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from db import history
from db.deals import company_currency, rates_in_force, rates_on
from db.forecasts.entries import ADJUSTMENTS, SUBMISSIONS, AdjustmentRecord, SubmissionRecord
from db.periods import Period
from db.rollups import FROZEN, NO_OWNER, bucket, currency_code
from db.sql import OwnerFilter, OwnerScope
from db.tables import (
    deal_rollups,
    exchange_rates,
    forecast_adjustments,
    forecast_submissions,
    goals,
    rollup_measure,
    team_memberships,
    teams,
    users,
)
from db.teams import team_closure
from db.users import USER_COLUMNS, UserRecord
from db.vocabulary import CLOSED_WON, FORECAST_CATEGORIES, TEAM, USER

ZERO = Decimal(0)
COMPANY = "company"
_TREE = "tree"


@dataclass(frozen=True, slots=True)
class Figures:
    """A row's deals, summed in the company currency: per forecast category (in FORECAST_CATEGORIES
    order) the deal count and the forecast amount — weighted or raw as the pipeline says, CLOSED_WON
    always raw (closedWon); the amount of the open-stage deals; and the weighted amount of them all."""

    counts: tuple[int, ...]
    amounts: tuple[Decimal, ...]
    pipeline_value: Decimal
    weighted_pipeline: Decimal

    @property
    def deal_count(self) -> int:
        return sum(self.counts)

    def __add__(self, other: "Figures") -> "Figures":
        """Figures of disjoint groups (a viewer's top teams) together: a handful of rows, never deals."""
        return Figures(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            tuple(a + b for a, b in zip(self.amounts, other.amounts, strict=True)),
            self.pipeline_value + other.pipeline_value,
            self.weighted_pipeline + other.weighted_pipeline,
        )


_N = len(FORECAST_CATEGORIES)
NO_DEALS = Figures((0,) * _N, (ZERO,) * _N, ZERO, ZERO)
# The figures columns of a row, in the order Figures reads them.
_COUNTS = [f"n{n}" for n in range(_N)]
_AMOUNTS = [f"c{n}" for n in range(_N)]
FIGURE_COLUMNS = [*_COUNTS, *_AMOUNTS, "open", "weighted"]


def _figures(values: Sequence[Any]) -> Figures | None:
    """Figures from the FIGURE_COLUMNS values of a row (None: the row has no deals)."""
    if values[0] is None:
        return None
    return Figures(tuple(map(int, values[:_N])), tuple(values[_N : 2 * _N]), values[-2], values[-1])


def rollup_rates(day: ColumnElement[Any] | None = None) -> Any:
    """The rate of each rollup currency to the company currency — db.deals.rate_of as a lookup: FROZEN
    amounts and the company currency's at 1, the others at the rate in force today (or on `day`; none:
    no rate)."""
    return _rate_lookup(rates_in_force if day is None else rates_on(day))


def _rate_lookup(in_force: Any, moments: Any = None) -> Any:
    """(code, rate) from the rates `in_force`; with `moments`, per moment (`point`), which both carry."""
    one = literal(Decimal(1))
    point, its_point = ([], []) if moments is None else ([moments.c.point], [in_force.c.point])
    return union_all(
        select(*point, literal(FROZEN).label("code"), one.label("rate")),
        select(*point, currency_code(company_currency), one),
        select(*its_point, currency_code(in_force.c.currency), in_force.c.rate).where(
            in_force.c.currency != company_currency
        ),
    )


def owner_figures(
    pipeline_id: ColumnElement[Any],
    span: ColumnElement[Any],
    month: ColumnElement[Any],
    weighted: bool,
    visible: OwnerFilter,
    owners: Any = None,
    at: ColumnElement[Any] | None = None,
) -> Select[Any]:
    """Per owner (of `owners`, when given), the figures (FIGURE_COLUMNS, in the company currency) of the
    deals in one rollup bucket (db.rollups.bucket) that the viewer may see, summed over the currencies —
    today's, or as of the moment `at` (db.history) at the rates in force on its day.
    `weighted`: the pipeline forecasts weighted amounts."""
    r = deal_rollups if at is None else history.as_of_rollups(pipeline_id, at, month, span, owners)
    rates = rollup_rates(None if at is None else _day_of(at)).subquery("rates")
    owner = func.nullif(r.c.owner_id, NO_OWNER)
    allowed = visible(owner)
    return (
        select(owner.label("owner_id"), *_figures_of(r, rates, weighted))
        .select_from(r.outerjoin(rates, rates.c.code == r.c.currency))
        .where(r.c.pipeline_id == pipeline_id, r.c.span == span, r.c.month == month)
        .where(*([allowed] if allowed is not None else []))
        .where(*([r.c.owner_id.in_(select(owners))] if owners is not None else []))
        .group_by(owner)
    )


def _figures_of(r: Any, rates: Any, weighted: bool) -> list[ColumnElement[Any]]:
    """FIGURE_COLUMNS as sums over rollup-shaped rows `r` joined to their currency's `rates`."""
    first, *others = (r.c[rollup_measure("weighted", c)] for c in FORECAST_CATEGORIES)
    every_weighted = sum(others, first)

    def forecast(category: str) -> ColumnElement[Any]:
        kind = "weighted" if weighted and category != CLOSED_WON else "amount"
        column: ColumnElement[Any] = r.c[rollup_measure(kind, category)]
        return column

    return [
        *(
            func.sum(r.c[rollup_measure("deals", c)]).label(f"n{n}")
            for n, c in enumerate(FORECAST_CATEGORIES)
        ),
        *(func.sum(forecast(c) * rates.c.rate).label(f"c{n}") for n, c in enumerate(FORECAST_CATEGORIES)),
        func.sum(r.c.open_amount * rates.c.rate).label("open"),
        func.sum(every_weighted * rates.c.rate).label("weighted"),
    ]


_POINTS = bindparam("points", type_=ARRAY(DateTime(timezone=True)))


def _trend_statement(team: bool, weighted: bool, visible: OwnerFilter) -> Any:
    """Per moment (`point`, from 1) and counted owner of a subject, the figures as of that moment."""
    owners = history.subject_owners(team, visible)
    r = history.trend_rollups(_PIPELINE, _POINTS, _MONTH, _SPAN, owners)
    moments = func.unnest(_POINTS).table_valued("at", with_ordinality="point").render_derived("moments")
    rates = _rates_per_moment(moments).subquery("rates")
    owner = func.nullif(r.c.owner_id, NO_OWNER)
    return (
        select(r.c.point, owner.label("owner_id"), *_figures_of(r, rates, weighted))
        .select_from(r.outerjoin(rates, and_(rates.c.point == r.c.point, rates.c.code == r.c.currency)))
        .group_by(r.c.point, owner)
    )


def _rates_per_moment(moments: Any) -> Any:
    """`_rates` for each moment (`point`) of a trend: at the rates in force on its day."""
    e = exchange_rates.c
    in_force = (
        select(moments.c.point, e.currency, e.rate)
        .select_from(moments.join(exchange_rates, e.valid_from <= _day_of(moments.c.at)))
        .ext(distinct_on(moments.c.point, e.currency))
        .order_by(moments.c.point, e.currency, e.valid_from.desc())
        .subquery("in_force")
    )
    return _rate_lookup(in_force, moments)


_TRENDS: dict[Hashable, Any] = {}


async def trend_figures(
    conn: AsyncConnection,
    *,
    team: bool,
    subject_id: int,
    pipeline_id: int,
    period: Period,
    fiscal_start: int,
    moments: Sequence[datetime],
    weighted: bool,
    visible: OwnerScope,
) -> list[dict[int, Figures]]:
    """The figures of a subject's counted owners as of each moment (ascending), in one statement."""
    shape = (team, weighted, visible.shape)
    statement = _TRENDS.get(shape)
    if statement is None:
        statement = _TRENDS[shape] = _trend_statement(team, weighted, visible.predicate)
    span, month = bucket(period, fiscal_start)
    values = {
        "subject_id": subject_id,
        "pipeline_id": pipeline_id,
        "span": span,
        "month": month,
        "points": list(moments),
        "first_point": moments[0],
        **visible.values,
    }
    found: list[dict[int, Figures]] = [{} for _ in moments]
    # Its sorts and groupings hold every change since the first moment: in memory, not on disk.
    await conn.execute(text("SET LOCAL work_mem = '64MB'"))
    for row in await conn.execute(statement, values):
        figures = _figures(row[2:])
        if figures is not None and row.owner_id is not None:
            found[row.point - 1][row.owner_id] = figures
    return found


@dataclass(frozen=True)
class Rows:
    """The rows a statement reads: users (these, those counted in some teams, or every sales-seat
    user), teams, and the company's."""

    user_ids: Sequence[int] = ()
    users_of_teams: Sequence[int] = ()
    every_user: bool = False
    team_ids: Sequence[int] = ()
    company: bool = False


@dataclass(frozen=True, slots=True)
class CountedUser:
    """A user with a row in a table, their primary team (None: no team) and every team they belong to."""

    user: UserRecord
    primary_team: int | None
    teams: frozenset[int]


@dataclass(frozen=True, slots=True)
class Facts:
    """One row's facts: its deal figures (None: no deals), its latest goal, submission and adjustment (an
    adjustment whose amount is None clears the one before), and for a team the Σ of its counted users'
    latest goals (None: none set) and submissions."""

    figures: Figures | None
    goal: Decimal | None
    submission: SubmissionRecord | None
    adjustment: AdjustmentRecord | None = None
    member_goals: Decimal | None = None
    member_submissions: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class TreeTeam:
    """A team at or below a team row: its parent, and the amounts of its latest submission and of the
    adjustment in force (None: none)."""

    parent_id: int | None
    submitted: Decimal | None
    adjusted: Decimal | None


@dataclass(frozen=True)
class TableFacts:
    users: list[CountedUser]  # by name
    rows: dict[tuple[str, int | None], Facts]  # (USER or TEAM, id), and (COMPANY, None)
    tree: dict[int, TreeTeam]  # every team at or below a team row


def _latest(
    table: Any, stamp: ColumnElement[Any], users_: Any, teams_: Any = None, *, as_of: bool = False
) -> Any:
    """Each user's (of `users_`, when given) and each team's (of the team rows, or of `teams_` when given)
    latest row of `table` (goals, submissions, adjustments) for the pipeline and period (`as_of`: at or
    before the moment the statement is read at)."""
    of_teams = table.c.team_id == any_(_TEAM_IDS) if teams_ is None else table.c.team_id.in_(select(teams_))
    mine = [] if users_ is None else [or_(table.c.user_id.in_(select(users_)), of_teams)]
    then = [stamp <= _AT] if as_of else []
    return (
        select(table)
        .where(table.c.pipeline_id == _PIPELINE, table.c.period == _PERIOD, *mine, *then)
        .order_by(table.c.user_id, table.c.team_id, stamp.desc(), table.c.id.desc())
        .ext(distinct_on(table.c.user_id, table.c.team_id))
        .cte(f"latest_{table.name}")
    )


_SUBMISSION = [f"submission_{c}" for c in SUBMISSIONS.columns]
_ADJUSTMENT = [f"adjustment_{c}" for c in ADJUSTMENTS.columns]
_USER = [*USER_COLUMNS, "primary_team", "teams", "ord"]
_FACTS = ["goal", "member_goals", "member_submissions", *_SUBMISSION, *_ADJUSTMENT, "parent_id"]


_PIPELINE = bindparam("pipeline_id", type_=BigInteger)
_SPAN = bindparam("span", type_=SmallInteger)
_MONTH = bindparam("month", type_=Date)
_PERIOD = bindparam("period", type_=Text)
_USER_IDS = bindparam("user_ids", type_=ARRAY(BigInteger))
_USERS_OF_TEAMS = bindparam("users_of_teams", type_=ARRAY(BigInteger))
_TEAM_IDS = bindparam("team_ids", type_=ARRAY(BigInteger))
_TEAMS_NEEDED = bindparam("teams_needed", type_=ARRAY(BigInteger))
_AT = bindparam("at", type_=DateTime(timezone=True))
# Figures given as arrays, one element per owner: the columns of per_owner.
_GIVEN_ARRAYS = {
    "owner_id": ARRAY(BigInteger),
    **{c: ARRAY(BigInteger) for c in _COUNTS},
    **{c: ARRAY(Numeric) for c in [*_AMOUNTS, "open", "weighted"]},
}
_GIVEN = (
    func.unnest(*(bindparam(f"given_{name}", type_=kind) for name, kind in _GIVEN_ARRAYS.items()))
    .table_valued(*_GIVEN_ARRAYS)
    .render_derived("given")
)


def _given(figures: Mapping[int, Figures]) -> dict[str, list[Any]]:
    """The bind values of figures given per owner."""
    owners = list(figures)
    columns: dict[str, list[Any]] = {"given_owner_id": owners}
    for n, name in enumerate(_COUNTS):
        columns[f"given_{name}"] = [figures[o].counts[n] for o in owners]
    for n, name in enumerate(_AMOUNTS):
        columns[f"given_{name}"] = [figures[o].amounts[n] for o in owners]
    columns["given_open"] = [figures[o].pipeline_value for o in owners]
    columns["given_weighted"] = [figures[o].weighted_pipeline for o in owners]
    return columns


def _day_of(at: ColumnElement[Any]) -> ColumnElement[Any]:
    """A moment's date in UTC (the day whose exchange rates apply)."""
    return cast(func.timezone("UTC", at), Date)


# One statement per shape (which kinds of rows, weighted or not, the deal:view scope's shape): a few
# dozen at most, each built once per process.
_STATEMENTS: dict[Hashable, Any] = {}


async def table_facts(
    conn: AsyncConnection,
    pipeline_id: int,
    period: Period,
    fiscal_start: int,
    rows: Rows,
    *,
    weighted: bool,
    visible: OwnerScope,
    as_of: datetime | None = None,
    figures: Mapping[int, Figures] | None = None,
) -> TableFacts:
    """The users and the facts of every row, in one statement: today's, or as of a moment (the deals as
    their versions were, goals, submissions and adjustments as set by then; docs/domain.md "History")."""
    shape = (
        as_of is not None,
        figures is not None,
        bool(rows.user_ids),
        bool(rows.users_of_teams),
        rows.every_user,
        bool(rows.team_ids),
        rows.company,
        weighted,
        visible.shape,
    )
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = _STATEMENTS[shape] = _statement(
            rows, weighted, visible.predicate, as_of=as_of is not None, given=figures is not None
        )
    span, month = bucket(period, fiscal_start)
    values = {
        "pipeline_id": pipeline_id,
        "span": span,
        "month": month,
        "period": period.key,
        "user_ids": list(rows.user_ids),
        "users_of_teams": list(rows.users_of_teams),
        "team_ids": list(rows.team_ids),
        "teams_needed": [*rows.team_ids, *rows.users_of_teams],
        **({"at": as_of} if as_of is not None else {}),
        **(_given(figures) if figures is not None else {}),
        **visible.values,
    }
    return _read(await conn.execute(statement, values))


def _statement(
    rows: Rows, weighted: bool, visible: OwnerFilter, *, as_of: bool = False, given: bool = False
) -> Any:
    closure = team_closure()
    m = team_memberships.c
    # (team, counted user) for every team the rows need
    members = (
        select(closure.c.ancestor.label("team_id"), users.c.id.label("user_id"))
        .select_from(
            users.join(team_memberships, and_(m.user_id == users.c.id, m.is_primary)).join(
                closure, closure.c.team == m.team_id
            )
        )
        .where(users.c.sales_seat, closure.c.ancestor == any_(_TEAMS_NEEDED))
        .cte("members")
    )
    # The users whose figures, goals and submissions the rows count: every one for the company's rows,
    # else those of the teams and the users asked (so a single row reads a single owner's).
    counted = None
    if not (rows.every_user or rows.company):
        counted = union_all(select(members.c.user_id), select(func.unnest(_USER_IDS))).cte("counted")
    if given:  # figures worked out already (a trend's, for one of its moments)
        per_owner = select(_GIVEN).cte("per_owner")
    else:
        at = _AT if as_of else None
        per_owner = owner_figures(_PIPELINE, _SPAN, _MONTH, weighted, visible, counted, at).cte("per_owner")
    # Every team at or below a team row, with its parent: what the rows' calls are made of.
    tree = None
    if rows.team_ids:
        below = closure.join(teams, teams.c.id == closure.c.team)
        tree = (
            select(closure.c.team.label("team_id"), teams.c.parent_id)
            .select_from(below)
            .where(closure.c.ancestor == any_(_TEAM_IDS))
            .distinct()
            .cte("tree")
        )
    tree_ids = None if tree is None else tree.c.team_id
    latest_goals = _latest(goals, goals.c.set_at, counted, as_of=as_of)
    submitted_at, adjusted_at = forecast_submissions.c.submitted_at, forecast_adjustments.c.adjusted_at
    latest_submissions = _latest(forecast_submissions, submitted_at, counted, tree_ids, as_of=as_of)
    latest_adjustments = _latest(forecast_adjustments, adjusted_at, counted, tree_ids, as_of=as_of)

    no_parent = cast(null(), BigInteger).label("parent_id")  # typed: a NULL-only column would be text

    def entries(submission: Any, adjustment: Any) -> list[ColumnElement[Any]]:
        return [
            *(submission.c[c].label(f"submission_{c}") for c in SUBMISSIONS.columns),
            *(adjustment.c[c].label(f"adjustment_{c}") for c in ADJUSTMENTS.columns),
        ]

    chosen: list[ColumnElement[bool]] = []
    if rows.user_ids:
        chosen.append(users.c.id == any_(_USER_IDS))
    if rows.users_of_teams:
        chosen.append(
            users.c.id.in_(select(members.c.user_id).where(members.c.team_id == any_(_USERS_OF_TEAMS)))
        )
    if rows.every_user:
        chosen.append(users.c.sales_seat)
    teams_of = (
        select(
            m.user_id,
            func.max(m.team_id).filter(m.is_primary).label("primary_team"),
            func.array_agg(m.team_id).label("teams"),
        )
        .where(*([] if counted is None else [m.user_id.in_(select(counted))]))
        .group_by(m.user_id)
        .subquery("teams_of")
    )
    table_users = (
        select(
            *USER_COLUMNS.values(),
            teams_of.c.primary_team,
            teams_of.c.teams,
            func.row_number().over(order_by=(users.c.name, users.c.id)).label("ord"),
        )
        .select_from(users.outerjoin(teams_of, teams_of.c.user_id == users.c.id))
        .where(or_(*chosen) if chosen else false())
        .cte("table_users")
    )
    tu = table_users.c
    parts: list[Select[Any]] = [
        select(
            literal(USER).label("kind"),
            tu.id.label("key"),
            *(tu[c] for c in _USER),
            *(per_owner.c[c] for c in FIGURE_COLUMNS),
            latest_goals.c.amount.label("goal"),
            null().label("member_goals"),
            null().label("member_submissions"),
            *entries(latest_submissions, latest_adjustments),
            no_parent,
        ).select_from(
            table_users.outerjoin(per_owner, and_(per_owner.c.owner_id == tu.id, tu.sales_seat))
            .outerjoin(latest_goals, latest_goals.c.user_id == tu.id)
            .outerjoin(latest_submissions, latest_submissions.c.user_id == tu.id)
            .outerjoin(latest_adjustments, latest_adjustments.c.user_id == tu.id)
        )
    ]
    no_user = [null().label(c) for c in _USER]
    if rows.team_ids:
        team = func.unnest(_TEAM_IDS).table_valued("id").render_derived("team")
        by_team = (
            select(
                members.c.team_id,
                *(func.sum(per_owner.c[c]).label(c) for c in FIGURE_COLUMNS),
                func.sum(latest_goals.c.amount).label("goals"),
                func.sum(latest_submissions.c.amount).label("submitted"),
            )
            .select_from(
                members.outerjoin(per_owner, per_owner.c.owner_id == members.c.user_id)
                .outerjoin(latest_goals, latest_goals.c.user_id == members.c.user_id)
                .outerjoin(latest_submissions, latest_submissions.c.user_id == members.c.user_id)
            )
            .group_by(members.c.team_id)
            .subquery("by_team")
        )
        own_goal, own_submission = latest_goals.alias("own_goal"), latest_submissions.alias("own_submission")
        own_adjustment = latest_adjustments.alias("own_adjustment")
        parts.append(
            select(
                literal(TEAM).label("kind"),
                team.c.id.label("key"),
                *no_user,
                *(by_team.c[c] for c in FIGURE_COLUMNS),
                own_goal.c.amount.label("goal"),
                by_team.c.goals.label("member_goals"),
                by_team.c.submitted.label("member_submissions"),
                *entries(own_submission, own_adjustment),
                no_parent,
            ).select_from(
                team.outerjoin(by_team, by_team.c.team_id == team.c.id)
                .outerjoin(own_goal, own_goal.c.team_id == team.c.id)
                .outerjoin(own_submission, own_submission.c.team_id == team.c.id)
                .outerjoin(own_adjustment, own_adjustment.c.team_id == team.c.id)
            )
        )
        assert tree is not None
        tree_submission = latest_submissions.alias("tree_submission")
        tree_adjustment = latest_adjustments.alias("tree_adjustment")
        parts.append(
            select(
                literal(_TREE).label("kind"),
                tree.c.team_id.label("key"),
                *no_user,
                *(null().label(c) for c in FIGURE_COLUMNS),
                *(null().label(c) for c in ("goal", "member_goals", "member_submissions")),
                *entries(tree_submission, tree_adjustment),
                tree.c.parent_id,
            ).select_from(
                tree.outerjoin(tree_submission, tree_submission.c.team_id == tree.c.team_id).outerjoin(
                    tree_adjustment, tree_adjustment.c.team_id == tree.c.team_id
                )
            )
        )
    if rows.company:
        seated = per_owner.join(users, and_(users.c.id == per_owner.c.owner_id, users.c.sales_seat))
        company: list[ColumnElement[Any]] = [literal(COMPANY).label("kind"), null().label("key"), *no_user]
        company += [func.sum(per_owner.c[c]).label(c) for c in FIGURE_COLUMNS]
        company += [null().label(c) for c in _FACTS]
        parts.append(select(*company).select_from(seated))
    return union_all(*parts)


def _span(at: dict[str, int], names: Sequence[str]) -> slice:
    """Where consecutive columns are in a row."""
    first = at[names[0]]
    assert [at[n] for n in names] == list(range(first, first + len(names)))
    return slice(first, first + len(names))


def _read(result: Any) -> TableFacts:
    at = {name: n for n, name in enumerate(result.keys())}
    figures, user_fields = _span(at, FIGURE_COLUMNS), _span(at, list(USER_COLUMNS))
    submission_fields, adjustment_fields = _span(at, _SUBMISSION), _span(at, _ADJUSTMENT)
    submission_amount, adjustment_amount = at["submission_amount"], at["adjustment_amount"]
    goal, member_goals, member_submissions = at["goal"], at["member_goals"], at["member_submissions"]
    primary_team, teams_of, ord_, parent_id = at["primary_team"], at["teams"], at["ord"], at["parent_id"]
    people: list[tuple[int, CountedUser]] = []
    found: dict[tuple[str, int | None], Facts] = {}
    tree: dict[int, TreeTeam] = {}
    for row in result:
        if row[0] == _TREE:
            tree[row[1]] = TreeTeam(row[parent_id], row[submission_amount], row[adjustment_amount])
            continue
        submission, adjustment = row[submission_fields], row[adjustment_fields]
        submitted = row[member_submissions]
        found[(row[0], row[1])] = Facts(
            _figures(row[figures]),
            row[goal],
            SubmissionRecord(*submission) if submission[0] is not None else None,
            AdjustmentRecord(*adjustment) if adjustment[0] is not None else None,
            row[member_goals],
            ZERO if submitted is None else submitted,
        )
        if row[0] == USER:
            user = UserRecord(*row[user_fields])
            people.append((row[ord_], CountedUser(user, row[primary_team], frozenset(row[teams_of] or ()))))
    people.sort(key=lambda numbered: numbered[0])
    return TableFacts([person for _, person in people], found, tree)
