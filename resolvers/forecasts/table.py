"""The forecast table and single forecast rows (docs/domain.md): which rows a viewer gets, their figures
from a handful of statements whatever the number of rows, and one builder for every row.

Which table: `forecast(teamId)` is that team's (its direct sub-teams and the sales-seat users whose
primary team is in it). Without a team, an ALL viewer gets the company (root teams, every sales-seat
user); a TEAM viewer the table of their highest team, or, when they belong to several separate teams,
those teams as rows; a viewer without teams, or with OWN, their own row.
"""

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from authz.forecasts import ForecastRules
from db.forecasts import Subject
from db.forecasts.entries import AdjustmentRecord
from db.forecasts.table import COMPANY, NO_DEALS, CountedUser, Facts, Figures, Rows, TableFacts, table_facts
from db.periods import Period
from db.pipelines import PipelineRecord
from db.teams import TeamRecord, descendants, root_team_ids
from db.users import UserRecord
from db.vocabulary import TEAM, USER, WEIGHTED
from resolvers.context import Context
from resolvers.forecasts import access
from resolvers.forecasts.arithmetic import ZERO, Row, first_of, row, summed, team_calls, total_of
from resolvers.forecasts.outlook import Key, Outlook, outlook_of
from resolvers.pipelines import company_settings
from resolvers.teams import teams_by_ids
from resolvers.users import users_by_ids

NO_FACTS = Facts(None, None, None)


@dataclass(frozen=True)
class Place:
    """Where a row's numbers are from: the pipeline and the period (with the fiscal year it is read in)."""

    pipeline: PipelineRecord
    period: Period
    fiscal_start: int


@dataclass
class Table:
    pipeline: PipelineRecord
    period: Period
    fiscal_start: int
    team: TeamRecord | None
    summary: Row
    teams: list[Row]
    users: list[Row]
    user_records: dict[int, UserRecord]
    team_records: dict[int, TeamRecord]

    @functools.cached_property
    def place(self) -> Place:
        return Place(self.pipeline, self.period, self.fiscal_start)


@dataclass(frozen=True)
class _Setting:
    """What every row of a table shares: whether the period is over."""

    ended: bool


async def _facts(
    context: Context,
    pipeline: PipelineRecord,
    period: Period,
    rows: Rows,
    as_of: datetime | None = None,
    figures: Mapping[int, Figures] | None = None,
) -> tuple[TableFacts, _Setting]:
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    async with context.engine.connect() as conn:
        facts = await table_facts(
            conn,
            pipeline.id,
            period,
            fiscal_start,
            rows,
            weighted=pipeline.forecast_amount == WEIGHTED,
            visible=context.access.scope("deal", "view"),
            as_of=as_of,
            figures=figures,
        )
    setting = _Setting(period.end(fiscal_start) < date.today())
    return facts, setting


@dataclass(frozen=True)
class _Calls:
    """The viewer's calls over a table's facts (docs/domain.md §7), and the adjustments in force they see."""

    calls: dict[Subject, Decimal | None]
    adjustments: dict[Subject, AdjustmentRecord]


def _calls(facts: TableFacts, rules: ForecastRules) -> _Calls:
    """Every user's and team's call in `facts`: adjustments the viewer may not see count as absent, and a
    row closed to them (team-only view) has no call."""
    adjustments: dict[Subject, AdjustmentRecord] = {}

    def seen(
        subject: Subject, adjustment: AdjustmentRecord | None, counted_in: int | None = None
    ) -> Decimal | None:
        if adjustment is None or adjustment.amount is None or not rules.sees_adjustment(subject, counted_in):
            return None
        adjustments[subject] = adjustment
        return adjustment.amount

    calls: dict[Subject, Decimal | None] = {}
    counted: list[tuple[int, Decimal | None]] = []
    for person in facts.users:
        subject = Subject.user(person.user.id)
        found = facts.rows[(USER, subject.id)]
        counted_in = person.primary_team if person.user.sales_seat else None
        adjusted = seen(subject, found.adjustment, counted_in)
        submitted = found.submission.amount if found.submission else None
        call = (
            first_of(adjusted, submitted, total_of(found.figures))
            if rules.opens(subject, person.teams)
            else None
        )
        calls[subject] = call
        if counted_in is not None:
            counted.append((counted_in, call))
    for (kind, key), found in facts.rows.items():
        if kind == TEAM and key is not None:
            seen(Subject.team(key), found.adjustment)
    decided: dict[int, Decimal] = {}
    for team_id, node in facts.tree.items():
        visible = node.adjusted if rules.sees_adjustment(Subject.team(team_id)) else None
        if (amount := first_of(visible, node.submitted)) is not None:
            decided[team_id] = amount
    for team_id, call in team_calls(facts.tree, decided, counted).items():
        subject = Subject.team(team_id)
        calls[subject] = call if rules.opens(subject) else None
    return _Calls(calls, adjustments)


def _row(subject: Subject, facts: Facts, setting: _Setting, calls: _Calls, *, open_: bool) -> Row:
    """THE row builder: a user's or team's row from its facts (a team without a goal of its own shows the
    Σ of its counted users' goals; its submissionsTotal is the Σ of their latest submissions) and the
    viewer's calls."""
    team = subject.kind == TEAM
    submission = facts.submission
    return row(
        subject,
        facts.figures,
        goal=facts.member_goals if team and facts.goal is None else facts.goal,
        submission=submission,
        submissions_total=facts.member_submissions if team else None,
        ended=setting.ended,
        open_=open_,
        adjustment=calls.adjustments.get(subject),
        call=calls.calls.get(subject),
    )


def _summary(
    viewer: Subject, setting: _Setting, parts: list[Row], figures: Figures | None, keys: tuple[Key, ...]
) -> Row:
    """The totals of a table that is not one team's: the company, or several top teams of a viewer.

    Its subject is the viewer (a table of several teams has no single subject); its goal, submission
    total and call add up the parts' (the teams', and for the company the teamless users') values, and
    are open when every part is."""
    goals = [r.goal for r in parts if r.goal is not None]
    submitted = [r.submissions_total if r.subject.kind == TEAM else r.submitted for r in parts]
    return row(
        viewer,
        figures,
        goal=sum(goals, ZERO) if goals else None,
        submission=None,
        submissions_total=sum((s for s in submitted if s is not None), ZERO),
        ended=setting.ended,
        open_=all(not r.restricted for r in parts),
        call=summed(r.call for r in parts),
        keys=keys,
    )


async def forecast_table(
    context: Context,
    pipeline_id: int | None,
    period: Period | None,
    team_id: int | None,
    *,
    predict: bool = False,
) -> Table:
    """The table of a team, the company or the viewer's teams (pipeline and period: access.chosen), with
    each row's prediction when `predict` (and the period has not ended)."""
    rules = await access.rules(context)
    pipeline_id, period = await access.chosen(context, pipeline_id, period)
    scope = rules.view.scope
    pipeline = await access.pipeline_and_period(context, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    team: TeamRecord | None = None
    if team_id is not None:
        [team] = await teams_by_ids(context, [team_id])
        if team is None or not rules.sees(Subject.team(team_id)):
            raise access.hidden(Subject.team(team_id))
    elif scope == "TEAM":
        tops = await _highest(context, rules.teams.member)
        if len(tops) == 1:
            team = tops[0]
    row_teams, rows = await _rows_of_table(context, scope, team)
    outlook = _outlook(context, pipeline, period, fiscal_start, rows) if predict else None
    facts, setting = await _facts(context, pipeline, period, rows)
    people = facts.users
    if not people:  # OWN, a viewer without teams, or teams without counted users: the viewer's own row
        rows = Rows(user_ids=[context.viewer.id])
        if outlook is not None:
            outlook.cancel()
            outlook = _outlook(context, pipeline, period, fiscal_start, rows)
        facts, setting = await _facts(context, pipeline, period, rows)
        people = facts.users or [CountedUser(context.viewer, None, frozenset())]
    calls = _calls(facts, rules)

    def subject_row(subject: Subject, teams: frozenset[int] = frozenset()) -> Row:
        found = facts.rows.get((subject.kind, subject.id), NO_FACTS)
        return _row(subject, found, setting, calls, open_=rules.opens(subject, teams))

    user_rows = [subject_row(Subject.user(p.user.id), p.teams) for p in people]
    team_rows = [subject_row(Subject.team(t.id)) for t in row_teams]
    records = {p.user.id: p.user for p in people}
    if team is not None:
        summary = subject_row(Subject.team(team.id))
    elif len(user_rows) == 1 and not team_rows:
        summary = user_rows[0]
    else:
        viewer = Subject.user(context.viewer.id)
        records.setdefault(viewer.id, context.viewer)
        if rows.company:
            teamless = [r for r, p in zip(user_rows, people, strict=True) if p.primary_team is None]
            company = facts.rows[(COMPANY, None)].figures
            summary = _summary(viewer, setting, team_rows + teamless, company, ((COMPANY, None),))
        else:
            parts = [r.figures for t in row_teams if (r := facts.rows.get((TEAM, t.id))) and r.figures]
            keys = tuple((TEAM, t.id) for t in row_teams)
            summary = _summary(viewer, setting, team_rows, sum(parts, start=NO_DEALS), keys)
    if outlook is not None:
        [summary], team_rows, user_rows = _predicted(await outlook, [summary], team_rows, user_rows)
    team_records = {t.id: t for t in [*row_teams, *([team] if team else [])]}
    return Table(pipeline, period, fiscal_start, team, summary, team_rows, user_rows, records, team_records)


def _outlook(
    context: Context, pipeline: PipelineRecord, period: Period, fiscal_start: int, rows: Rows
) -> "asyncio.Task[Outlook | None]":
    """What the predictions of these rows need, read on a connection of its own while the table's facts
    are read (None: the period has ended)."""

    async def read() -> Outlook | None:
        if period.end(fiscal_start) < date.today():
            return None
        async with context.engine.connect() as conn:
            scope = context.access.scope("deal", "view")
            return await outlook_of(conn, pipeline.id, period, fiscal_start, rows, scope)

    task = asyncio.create_task(read())
    # A request that fails before it awaits the task leaves it to finish (a bounded read); its error is
    # then collected here, not reported as never retrieved.
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


def _predicted(outlook: Outlook | None, *groups: list[Row]) -> list[list[Row]]:
    """The rows with their predictions (none for an ended period)."""
    if outlook is None:
        return list(groups)
    return [[replace(r, prediction=outlook.predict(r.keys, r.closed_won)) for r in group] for group in groups]


async def _rows_of_table(
    context: Context, scope: str, team: TeamRecord | None
) -> tuple[list[TeamRecord], Rows]:
    """The team rows of a table and what its rows are (a team's, the company's, the viewer's teams')."""
    if team is not None:
        children = await context.loaders.children_by_team.load(team.id)
        return children, Rows(users_of_teams=[team.id], team_ids=[*(t.id for t in children), team.id])
    if scope == "ALL":
        async with context.engine.connect() as conn:
            roots = [t for t in await teams_by_ids(context, await root_team_ids(conn)) if t]
        return roots, Rows(every_user=True, team_ids=[t.id for t in roots], company=True)
    tops = await _highest(context, (await access.rules(context)).teams.member) if scope == "TEAM" else []
    if not tops:
        return [], Rows(user_ids=[context.viewer.id])
    ids = [t.id for t in tops]
    return tops, Rows(users_of_teams=ids, team_ids=ids)


async def _highest(context: Context, team_ids: frozenset[int]) -> list[TeamRecord]:
    """The viewer's teams that no other of their teams contains."""
    if not team_ids:
        return []
    async with context.engine.connect() as conn:
        below = await descendants(conn, sorted(team_ids))
    tops = [t for t in team_ids if not any(t in below[o] for o in team_ids if o != t)]
    return sorted((t for t in await teams_by_ids(context, tops) if t), key=lambda t: (t.name, t.id))


async def subject_row(
    context: Context,
    subject: Subject,
    pipeline_id: int | None,
    period: Period | None,
    *,
    predict: bool = False,
) -> tuple[Row, Place] | None:
    """User.forecast and Team.forecast: one row, batched over every subject asked in the request for the
    same pipeline and period (pipeline and period: access.chosen).

    Null outside the viewer's forecast:view, and for users without a sales seat (they have no row)."""
    pipeline_id, period = await access.chosen(context, pipeline_id, period)
    chosen_pipeline, chosen_period = pipeline_id, period

    async def rows(subjects: Sequence[Subject]) -> list[tuple[Row, Place] | None]:
        seen = await access.can_view(context, subjects, whole_batch=True)
        users = await users_by_ids(context, [s.id for s in subjects if s.kind == USER])
        seated = {u.id for u in users if u is not None and u.sales_seat}
        shown = [s for s, ok in zip(subjects, seen, strict=True) if ok and (s.kind == TEAM or s.id in seated)]
        if not shown:
            return [None] * len(subjects)
        pipeline = await access.pipeline_and_period(context, chosen_pipeline, chosen_period)
        found = await subject_rows(context, shown, pipeline, chosen_period, predict=predict)
        place = Place(pipeline, chosen_period, (await company_settings(context)).fiscal_year_start_month)
        return [(found[s], place) if s in found else None for s in subjects]

    loader = context.loaders.batched(("forecast rows", pipeline_id, period, predict), rows)
    row: tuple[Row, Place] | None = await loader.load(subject)
    return row


async def subject_rows(
    context: Context,
    subjects: Sequence[Subject],
    pipeline: PipelineRecord,
    period: Period,
    as_of: datetime | None = None,
    figures: Mapping[int, Figures] | None = None,
    *,
    predict: bool = False,
) -> dict[Subject, Row]:
    """The rows of subjects the viewer may see, in one statement: today's, or as of a moment (with the
    owners' `figures` then, when they are known already); with their predictions when `predict`."""
    kinds = {kind: [s.id for s in subjects if s.kind == kind] for kind in (USER, TEAM)}
    # A team's call is made of its counted users' calls: they are read too.
    asked = Rows(user_ids=kinds[USER], users_of_teams=kinds[TEAM], team_ids=kinds[TEAM])
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    outlook = _outlook(context, pipeline, period, fiscal_start, asked) if predict else None
    facts, setting = await _facts(context, pipeline, period, asked, as_of, figures)
    calls = _calls(facts, await access.judge(context, subjects))
    opened = dict(zip(subjects, await access.is_open(context, subjects, whole_batch=True), strict=True))
    found = [
        _row(s, facts.rows.get((s.kind, s.id), NO_FACTS), setting, calls, open_=opened[s]) for s in subjects
    ]
    if outlook is not None:
        [found] = _predicted(await outlook, found)
    return dict(zip(subjects, found, strict=True))
