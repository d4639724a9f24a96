"""The forecast's permission checks for a request: the rules of authz.forecasts, given the viewer's teams
and the subjects' memberships (each read once per request, through loaders)."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.relay import to_base64

from authz.forecasts import NO_TEAMS, ForecastRules, needs_teams
from db.forecasts import Subject
from db.periods import Period
from db.pipelines import PipelineRecord
from db.teams import ViewerTeams, team_ids_of_users, viewer_teams
from db.vocabulary import QUARTER, USER
from resolvers.common import found, node_target
from resolvers.context import Context
from resolvers.errors import BadUserInput, Forbidden, NotFound
from resolvers.pipelines import current_period, pipeline, pipelines
from resolvers.teams import teams_by_ids
from resolvers.users import users_by_ids


async def _rules(context: Context) -> ForecastRules:
    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, ViewerTeams]:
        return {key: await viewer_teams(conn, key) for key in keys}

    loader = context.loaders.by_arguments(("viewer teams",), fetch, None)
    teams: ViewerTeams = await loader.load(context.viewer.id)
    grant = context.access.grant
    return ForecastRules(context.viewer.id, grant("forecast", "view"), teams, grant("forecast", "adjust"))


async def rules(context: Context) -> ForecastRules:
    """The viewer's forecast rules; FORBIDDEN without forecast:view."""
    if context.access.grant("forecast", "view").scope == "NONE":
        raise Forbidden("reading the forecast needs the forecast:view permission")
    return await _rules(context)


async def teams_of(context: Context, subjects: Sequence[Subject]) -> list[frozenset[int]]:
    """Each user subject's teams (primary or extra); nothing for team subjects."""

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, frozenset[int]]:
        return {key: frozenset(ids) for key, ids in (await team_ids_of_users(conn, keys)).items()}

    loader = context.loaders.by_arguments(("team ids of users",), fetch, frozenset())
    users = [s.id for s in subjects if s.kind == USER]
    found_ = dict(zip(users, await loader.load_many(users), strict=True))
    return [found_[s.id] if s.kind == USER else frozenset() for s in subjects]


async def _judged(
    context: Context, subjects: Sequence[Subject], whole_batch: bool
) -> tuple[ForecastRules, list[frozenset[int]]]:
    """The rules and each subject's teams. A caller that judges a whole batch at once (`whole_batch`)
    reads them only when the answers depend on them (authz.forecasts.needs_teams); callers that judge
    one subject at a time always read them, so every subject's work reaches the next loaders together."""
    view = context.access.grant("forecast", "view")
    if view.scope == "NONE":
        raise Forbidden("reading the forecast needs the forecast:view permission")
    if whole_batch and not needs_teams(view, context.viewer.id, subjects):
        adjust = context.access.grant("forecast", "adjust")
        return ForecastRules(context.viewer.id, view, NO_TEAMS, adjust), [frozenset()] * len(subjects)
    return await _rules(context), await teams_of(context, subjects)


async def judge(context: Context, subjects: Sequence[Subject]) -> ForecastRules:
    """The rules for judging a whole batch of subjects, and everything at or below them: with the
    viewer's teams unless no answer about these subjects depends on them (authz.forecasts.needs_teams)."""
    return (await _judged(context, subjects, True))[0]


async def can_view(context: Context, subjects: Sequence[Subject], *, whole_batch: bool = False) -> list[bool]:
    """Whether forecast:view reaches each subject's row."""
    given, teams = await _judged(context, subjects, whole_batch)
    return [given.sees(s, t) for s, t in zip(subjects, teams, strict=True)]


async def is_open(context: Context, subjects: Sequence[Subject], *, whole_batch: bool = False) -> list[bool]:
    """Whether the subjects' goals and submissions are open to the viewer (not the team-only view)."""
    given, teams = await _judged(context, subjects, whole_batch)
    return [given.opens(s, t) for s, t in zip(subjects, teams, strict=True)]


async def readable(context: Context, subjects: Sequence[Subject]) -> list[bool]:
    """Whether the viewer may read these subjects' goals and submissions (in reach and not team-only)."""
    given, teams = await _judged(context, subjects, False)
    return [given.sees(s, t) and given.opens(s, t) for s, t in zip(subjects, teams, strict=True)]


async def _counted_in(context: Context, subjects: Sequence[Subject]) -> list[int | None]:
    """The team each user subject is counted in (their primary team, when they have a sales seat)."""
    user_ids = [s.id for s in subjects if s.kind == USER]
    users = await users_by_ids(context, user_ids)
    memberships = await context.loaders.memberships_by_user.load_many(user_ids)
    primary = {
        u.id: next((m.team_id for m in held if m.is_primary), None)
        for u, held in zip(users, memberships, strict=True)
        if u is not None and u.sales_seat
    }
    return [primary.get(s.id) if s.kind == USER else None for s in subjects]


async def may_adjust(context: Context, subjects: Sequence[Subject]) -> list[bool]:
    """Whether forecast:adjust reaches each subject."""
    rules_, counted = await _rules(context), await _counted_in(context, subjects)
    return [rules_.may_adjust(s, c) for s, c in zip(subjects, counted, strict=True)]


async def sees_adjustments(context: Context, subjects: Sequence[Subject]) -> list[bool]:
    """Whether the viewer sees each subject's adjustments (those who may adjust it, forecast:view ALL)."""
    if context.access.grant("forecast", "view").scope == "ALL":
        return [True] * len(subjects)
    rules_, counted = await _rules(context), await _counted_in(context, subjects)
    return [rules_.sees_adjustment(s, c) for s, c in zip(subjects, counted, strict=True)]


async def may(context: Context, resource: str, action: str, subject: Subject) -> bool:
    """forecast:edit or goal:edit over a subject (TEAM covers the viewer themselves for forecast:edit)."""
    [teams] = await teams_of(context, [subject])
    grant = context.access.grant(resource, action)
    writer = await _rules(context)  # a writer may hold forecast:edit or goal:edit without forecast:view
    return writer.may(grant, subject, teams, includes_oneself=(resource, action) == ("forecast", "edit"))


def subject_target(subject: Subject) -> str:
    """A goal's or submission's subject as an audit target."""
    return node_target(subject.kind.capitalize(), subject.id)


def hidden(subject: Subject) -> NotFound:
    """The answer about a subject outside the viewer's reach: the same as about a missing one."""
    type_name = subject.kind.capitalize()
    return NotFound(f"no {type_name} with id {to_base64(type_name, subject.id)!r}")


async def existing(context: Context, subject: Subject) -> None:
    """NOT_FOUND unless the subject exists."""
    if subject.kind == USER:
        [user] = await users_by_ids(context, [subject.id])
        found(user, "User", subject.id)
    else:
        [team] = await teams_by_ids(context, [subject.id])
        found(team, "Team", subject.id)


class _OfSubject(Protocol):
    @property
    def user_id(self) -> int | None: ...
    @property
    def team_id(self) -> int | None: ...


R = TypeVar("R", bound=_OfSubject)


async def only_readable(
    context: Context,
    ids: Sequence[int],
    stored: Mapping[int, R],
    judge: Callable[[Context, Sequence[Subject]], Awaitable[list[bool]]] = readable,
) -> list[R | None]:
    """Goals, submissions or adjustments by id (`stored`: those that exist), null where the viewer may not
    read their subject's (`judge`: whether they may, by subject; goals and submissions: `readable`)."""
    records = list(stored.values())
    allowed = await judge(context, [Subject.of(r.user_id, r.team_id) for r in records])
    kept = {id(r) for r, ok in zip(records, allowed, strict=True) if ok}
    return [r if (r := stored.get(i)) is not None and id(r) in kept else None for i in ids]


async def known_pipeline(context: Context, pipeline_id: int) -> PipelineRecord:
    """The pipeline, or NOT_FOUND."""
    return found(await pipeline(context, pipeline_id), "Pipeline", pipeline_id)


async def chosen(context: Context, pipeline_id: int | None, period: Period | None) -> tuple[int, Period]:
    """The pipeline and period a forecast read names, or its defaults: the company's first pipeline
    (the oldest), and that pipeline's current period (today's month or fiscal quarter)."""
    if pipeline_id is None:
        every = await pipelines(context)
        if not every:
            raise NotFound("there is no pipeline yet: create one with createPipeline")
        pipeline_id = every[0].id
    if period is None:
        period = await current_period(context, await known_pipeline(context, pipeline_id))
    return pipeline_id, period


async def pipeline_and_period(context: Context, pipeline_id: int, period: Period) -> PipelineRecord:
    """The pipeline (NOT_FOUND) and a period of its kind (BAD_USER_INPUT naming the kind)."""
    record = await known_pipeline(context, pipeline_id)
    if period.kind != record.period_kind:
        example = "2026-Q4" if record.period_kind == QUARTER else "2026-11"
        raise BadUserInput(
            f"period {period.key}: pipeline {record.name!r} forecasts by {record.period_kind}; "
            f"give a period such as {example}"
        )
    return record
