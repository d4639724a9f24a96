"""The forecast table and single forecast rows (DOMAIN.md §5–§6): which rows a viewer gets, their figures
from a handful of statements whatever the number of rows, and one builder for every row.

Which table: `forecast(teamId)` is that team's (its direct sub-teams and the sales-seat users whose
primary team is in it). Without a team, an ALL viewer gets the company (root teams, every sales-seat
user); a TEAM viewer the table of their highest team, or, when they belong to several separate teams,
those teams as rows; a viewer without teams, or with OWN, their own row.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from db.forecasts import Subject
from db.forecasts.figures import NO_DEALS, CountedUser, Figures, deal_figures, table_users
from db.forecasts.goals import table_goals
from db.forecasts.submissions import SubmissionRecord, table_submissions
from db.periods import Period
from db.pipelines import PipelineRecord
from db.teams import TeamRecord, descendants, root_team_ids
from db.users import UserRecord
from db.vocabulary import TEAM, USER, WEIGHTED
from resolvers.context import Context
from resolvers.forecasts import access
from resolvers.forecasts.arithmetic import ZERO, Row, row
from resolvers.pipelines import company_settings
from resolvers.teams import teams_by_ids
from resolvers.users import users_by_ids

COMPANY = "company"


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


@dataclass(frozen=True)
class _Facts:
    """What every row of one table reads: the figures, goals and submissions of its subjects."""

    figures: dict[tuple[str, int | None], Figures]
    goals: dict[tuple[str, int | None], Decimal]
    submissions: dict[tuple[str, int | None], SubmissionRecord]
    submission_sums: dict[tuple[str, int | None], Decimal]
    weighted: bool
    ended: bool


async def _facts(
    conn: AsyncConnection,
    context: Context,
    pipeline: PipelineRecord,
    period: Period,
    *,
    user_ids: list[int],
    team_ids: list[int],
    company: bool,
) -> _Facts:
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    start, end = period.start(fiscal_start), period.end(fiscal_start)
    submissions, sums = await table_submissions(conn, pipeline.id, period.key, user_ids, team_ids)
    return _Facts(
        figures=await deal_figures(
            conn,
            pipeline.id,
            start,
            end,
            user_ids=user_ids,
            team_ids=team_ids,
            company=company,
            visible=lambda owner: context.access.owners("deal", "view", owner),
        ),
        goals=await table_goals(conn, pipeline.id, period.key, user_ids, team_ids),
        submissions=submissions,
        submission_sums=sums,
        weighted=pipeline.forecast_amount == WEIGHTED,
        ended=end < date.today(),
    )


def _row(subject: Subject, facts: _Facts, *, open_: bool, figures: Figures | None = None) -> Row:
    """THE row builder: a user's or team's row from the table's facts (a team without a goal of its own
    shows the Σ of its counted users' goals; its submissionsTotal is the Σ of their latest submissions)."""
    key = (subject.kind, subject.id)
    goal = facts.goals.get(key)
    if subject.kind == TEAM and goal is None:
        goal = facts.goals.get(("team_sum", subject.id))
    submission = facts.submissions.get(key)
    return row(
        subject,
        figures if figures is not None else facts.figures.get(key),
        weighted=facts.weighted,
        goal=goal,
        submission=submission,
        submitted=submission.amount if submission else None,
        submissions_total=facts.submission_sums.get(("team_sum", subject.id), ZERO)
        if subject.kind == TEAM
        else None,
        ended=facts.ended,
        open_=open_,
    )


def _summary(viewer: Subject, facts: _Facts, parts: list[Row], figures: Figures | None) -> Row:
    """The totals of a table that is not one team's: the company, or several top teams of a viewer.

    Its subject is the viewer (a table of several teams has no single subject); its goal and its
    submission total add up the parts' (the teams', and for the company the teamless users') values, and
    are open when every part is."""
    goals = [r.goal for r in parts if r.goal is not None]
    submitted = [r.submissions_total if r.subject.kind == TEAM else r.submitted for r in parts]
    return row(
        viewer,
        figures,
        weighted=facts.weighted,
        goal=sum(goals, ZERO) if goals else None,
        submission=None,
        submitted=None,
        submissions_total=sum((s for s in submitted if s is not None), ZERO),
        ended=facts.ended,
        open_=all(not r.restricted for r in parts),
    )


async def forecast_table(context: Context, pipeline_id: int, period: Period, team_id: int | None) -> Table:
    rules = await access.rules(context)
    scope = rules.view.scope
    pipeline = await access.pipeline_and_period(context, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    team: TeamRecord | None = None
    if team_id is not None:
        [team] = await teams_by_ids(context, [team_id])
        if team is None or not (await access.can_view(context, [Subject.team(team_id)]))[0]:
            raise access.hidden(Subject.team(team_id))
    elif scope == "TEAM":
        tops = await _highest(context, rules.teams.member)
        if len(tops) == 1:
            team = tops[0]
    row_teams, people = await _subjects_of_table(context, scope, team)
    company = team is None and scope == "ALL"
    async with context.engine.connect() as conn:
        facts = await _facts(
            conn,
            context,
            pipeline,
            period,
            user_ids=[p.user.id for p in people],
            team_ids=[t.id for t in row_teams] + ([team.id] if team else []),
            company=company,
        )
    context.loaders.prime_users([p.user for p in people])
    subjects = [Subject.user(p.user.id) for p in people] + [Subject.team(t.id) for t in row_teams]
    if team:
        subjects.append(Subject.team(team.id))
    opened = dict(zip(subjects, await access.is_open(context, subjects), strict=True))
    user_rows = [_row(Subject.user(p.user.id), facts, open_=opened[Subject.user(p.user.id)]) for p in people]
    team_rows = [_row(Subject.team(t.id), facts, open_=opened[Subject.team(t.id)]) for t in row_teams]
    records = {p.user.id: p.user for p in people}
    if team is not None:
        summary = _row(Subject.team(team.id), facts, open_=opened[Subject.team(team.id)])
    elif len(user_rows) == 1 and not team_rows:
        summary = user_rows[0]
    else:
        viewer = Subject.user(context.viewer.id)
        records.setdefault(viewer.id, context.viewer)
        if company:
            teamless = [r for r, p in zip(user_rows, people, strict=True) if p.primary_team is None]
            summary = _summary(viewer, facts, team_rows + teamless, facts.figures.get((COMPANY, None)))
        else:
            parts = [facts.figures.get((TEAM, t.id)) for t in row_teams]
            combined = sum((f for f in parts if f is not None), start=NO_DEALS)
            summary = _summary(viewer, facts, team_rows, combined)
    team_records = {t.id: t for t in [*row_teams, *([team] if team else [])]}
    return Table(pipeline, period, fiscal_start, team, summary, team_rows, user_rows, records, team_records)


async def _subjects_of_table(
    context: Context, scope: str, team: TeamRecord | None
) -> tuple[list[TeamRecord], list[CountedUser]]:
    """The team rows and the user rows of a table (§6: a team's, the company's, the viewer's teams')."""
    async with context.engine.connect() as conn:
        if team is not None:
            return await context.loaders.children_by_team.load(team.id), await table_users(conn, [team.id])
        if scope == "ALL":
            roots = [t for t in await teams_by_ids(context, await root_team_ids(conn)) if t]
            return roots, await table_users(conn, None)
        tops = await _highest(context, (await access.rules(context)).teams.member) if scope == "TEAM" else []
        people = await table_users(conn, [t.id for t in tops]) if tops else []
    if not people:  # OWN, or a viewer without teams: their own row
        people = [CountedUser(context.viewer, None)]
    return tops, people


async def _highest(context: Context, team_ids: frozenset[int]) -> list[TeamRecord]:
    """The viewer's teams that no other of their teams contains."""
    if not team_ids:
        return []
    async with context.engine.connect() as conn:
        below = await descendants(conn, sorted(team_ids))
    tops = [t for t in team_ids if not any(t in below[o] for o in team_ids if o != t)]
    return sorted((t for t in await teams_by_ids(context, tops) if t), key=lambda t: (t.name, t.id))


async def subject_row(context: Context, subject: Subject, pipeline_id: int, period: Period) -> Row | None:
    """User.forecast and Team.forecast: one row, batched over every subject asked in the request.

    Null outside the viewer's forecast:view, and for users without a sales seat (they have no row)."""
    if not (await access.can_view(context, [subject]))[0]:
        return None
    if subject.kind == USER:
        [user] = await users_by_ids(context, [subject.id])
        if user is None or not user.sales_seat:
            return None
    pipeline = await access.pipeline_and_period(context, pipeline_id, period)

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, _Facts]:
        users = list(keys) if subject.kind == USER else []
        teams = list(keys) if subject.kind == TEAM else []
        facts = await _facts(conn, context, pipeline, period, user_ids=users, team_ids=teams, company=False)
        return dict.fromkeys(keys, facts)

    loader = context.loaders.by_arguments(("forecast rows", subject.kind, pipeline_id, period), fetch, None)
    facts: _Facts = await loader.load(subject.id)
    [open_] = await access.is_open(context, [subject])
    return _row(subject, facts, open_=open_)
