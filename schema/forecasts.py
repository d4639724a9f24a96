"""The forecast tool's types: goals, submissions, adjustments, forecast rows and the forecast table."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, FragmentDefinitionNode
from strawberry import relay

from db.forecasts import Subject
from db.forecasts.entries import ADJUSTMENTS, SUBMISSIONS, AdjustmentRecord, SubmissionRecord
from db.periods import Period
from db.vocabulary import USER
from resolvers import forecasts as resolve
from resolvers import pipelines as resolve_pipelines
from resolvers import teams as resolve_teams
from resolvers import users as resolve_users
from resolvers.context import Context
from resolvers.errors import BadUserInput
from schema import ids
from schema.deals import Deal, DealConnection, money
from schema.enums import ForecastCategory, WaterfallStepKind
from schema.pagination import Connection, arguments, connection, names_in
from schema.pipelines import PeriodInfo, Pipeline
from schema.teams import Team
from schema.users import User

ForecastSubject = Annotated[User | Team, strawberry.union("ForecastSubject")]


async def _subject(context: Context, subject: Subject) -> User | Team:
    if subject.kind == USER:
        user = await resolve_users.user(context, subject.id)
        assert user is not None  # rows and records only name existing subjects
        return User.of(user)
    team = await resolve_teams.team(context, subject.id)
    assert team is not None
    return Team.of(team)


async def _pipeline(info: strawberry.Info[Context], pipeline_id: int) -> Pipeline:
    record = await resolve_pipelines.pipeline(info.context, pipeline_id)
    assert record is not None  # a foreign key
    return Pipeline.of(record)


async def _period(info: strawberry.Info[Context], key: str) -> PeriodInfo:
    period = resolve.db_period(key)
    assert period is not None  # stored keys were parsed when written
    return PeriodInfo.of(
        period, (await resolve_pipelines.company_settings(info.context)).fiscal_year_start_month
    )


@strawberry.input(description="Exactly one of userId and teamId.")
class SubjectInput:
    user_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None

    def decoded(self) -> Subject:
        if (self.user_id is None) == (self.team_id is None):
            raise BadUserInput("subject: give exactly one of userId and teamId")
        if self.user_id is not None:
            return Subject.user(ids.decode(self.user_id, "User", "subject.userId"))
        return Subject.team(ids.decode(str(self.team_id), "Team", "subject.teamId"))


@strawberry.type(
    description="A revenue target for a user or team, a pipeline and a period (the latest version)."
)
class Goal(relay.Node):
    id: relay.NodeID[str]
    amount: Decimal
    set_at: datetime = strawberry.field(
        description="When it was set (for a team's sum: its latest member goal)."
    )
    view: strawberry.Private[resolve.GoalView]

    @classmethod
    def of(cls, view: resolve.GoalView) -> "Goal":
        key = (
            str(view.record.id) if view.record else f"sum-{view.subject.id}-{view.pipeline_id}-{view.period}"
        )
        return cls(id=key, amount=view.amount, set_at=view.set_at, view=view)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        keys = list(node_ids)
        stored = [int(k) for k in keys if k.isdecimal()]
        records = dict(zip(stored, await resolve.goal_by_ids(info.context, stored), strict=True))
        found: list[Any] = []
        for key in keys:
            record = records.get(int(key)) if key.isdecimal() else None
            found.append(cls.of(resolve.GoalView.of(record)) if record else None)
        return found

    @strawberry.field
    async def subject(self, info: strawberry.Info[Context]) -> ForecastSubject:
        return await _subject(info.context, self.view.subject)

    @strawberry.field
    async def pipeline(self, info: strawberry.Info[Context]) -> Pipeline:
        return await _pipeline(info, self.view.pipeline_id)

    @strawberry.field
    async def period(self, info: strawberry.Info[Context]) -> PeriodInfo:
        return await _period(info, self.view.period)

    @strawberry.field(description="Who set it; null for a team's sum of its members' goals.")
    async def set_by(self, info: strawberry.Info[Context]) -> User | None:
        if self.view.record is None or self.view.record.set_by is None:
            return None
        user = await resolve_users.user(info.context, self.view.record.set_by)
        return User.of(user) if user else None


@strawberry.type
class _Entry:
    """What a submission and an adjustment both show of their stored record: whom, which pipeline and
    which period it is for."""

    record: strawberry.Private[Any]  # a SubmissionRecord or an AdjustmentRecord

    @strawberry.field
    async def subject(self, info: strawberry.Info[Context]) -> ForecastSubject:
        return await _subject(info.context, Subject.of(self.record.user_id, self.record.team_id))

    @strawberry.field
    async def pipeline(self, info: strawberry.Info[Context]) -> Pipeline:
        return await _pipeline(info, self.record.pipeline_id)

    @strawberry.field
    async def period(self, info: strawberry.Info[Context]) -> PeriodInfo:
        return await _period(info, self.record.period)


@strawberry.type(
    description="A forecast someone submitted; the latest for a subject and period is the current one."
)
class ForecastSubmission(relay.Node, _Entry):
    id: relay.NodeID[int]
    amount: Decimal
    note: str | None
    submitted_at: datetime
    record: strawberry.Private[SubmissionRecord]

    @classmethod
    def of(cls, record: SubmissionRecord) -> "ForecastSubmission":
        return cls(
            id=record.id,
            amount=record.amount,
            note=record.note,
            submitted_at=record.submitted_at,
            record=record,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.submission_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field
    async def submitted_by(self, info: strawberry.Info[Context]) -> User:
        user = await resolve_users.user(info.context, self.record.submitted_by)
        assert user is not None  # a foreign key
        return User.of(user)


@strawberry.type(description="A page of submissions, newest first.")
class ForecastSubmissionConnection(Connection[ForecastSubmission]):
    pass


@strawberry.type(description="A manager's judgment of a subject's forecast for a period.")
class ForecastAdjustment(relay.Node, _Entry):
    id: relay.NodeID[int]
    amount: Decimal | None = strawberry.field(
        description="The adjusted forecast, company currency; null when this entry clears the adjustment."
    )
    note: str = strawberry.field(description="Why the forecast was re-judged.")
    adjusted_at: datetime
    record: strawberry.Private[AdjustmentRecord]

    @classmethod
    def of(cls, record: AdjustmentRecord) -> "ForecastAdjustment":
        return cls(
            id=record.id,
            amount=record.amount,
            note=record.note,
            adjusted_at=record.adjusted_at,
            record=record,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.adjustment_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field
    async def adjusted_by(self, info: strawberry.Info[Context]) -> User:
        user = await resolve_users.user(info.context, self.record.adjusted_by)
        assert user is not None  # a foreign key
        return User.of(user)


@strawberry.type(description="A page of adjustments, newest first.")
class ForecastAdjustmentConnection(Connection[ForecastAdjustment]):
    pass


@strawberry.type(
    description="One forecast category's amount (weighted or raw, per the pipeline) and deal count."
)
class CategoryTotal:
    category: ForecastCategory = strawberry.field(description="The forecast category.")
    amount: Decimal = strawberry.field(
        description="Σ forecast amount of the category's deals (CLOSED_WON: closedWon), rounded to cents."
    )
    count: int = strawberry.field(description="The number of deals in the category.")


_CATEGORY = {c.value: c for c in ForecastCategory}


def _m(value: Decimal | None) -> Decimal | None:
    return None if value is None else money(value)


@strawberry.type(
    description="A statistical range for closedWon at the period's end: the learned stage win and slip rates "
    "(Pipeline.outcomeRates) applied to the open deals in scope that the viewer may see, each closing won "
    "independently. Deterministic for the same data; docs/prediction.md says how it is computed."
)
class ForecastPrediction:
    p10: Decimal = strawberry.field(description="10 % of outcomes close less than this.")
    p50: Decimal = strawberry.field(description="The median outcome.")
    p90: Decimal = strawberry.field(description="90 % of outcomes close at most this.")
    expected: Decimal = strawberry.field(description="closedWon + Σ chance × amount of the open deals.")
    open_deals: int = strawberry.field(description="Open deals in scope that the prediction counted.")
    basis: int = strawberry.field(description="Closed deals the stage win and slip rates were learned from.")

    @classmethod
    def of(cls, found: resolve.RowPrediction) -> "ForecastPrediction":
        p = found.prediction
        return cls(
            p10=p.p10, p50=p.p50, p90=p.p90, expected=p.expected, open_deals=p.open_deals, basis=found.basis
        )


def asks_prediction(nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode]) -> bool:
    """Whether a selection under these field nodes names `prediction` at any depth: the rows' predictions
    are then worked out with the table, in two statements for all of them."""
    return "prediction" in names_in(nodes, fragments, deep=True)


@strawberry.type(
    description="One subject's numbers for a pipeline and period: a user's own deals, or a team's counted "
    "users' (sales-seat users whose primary team is the team or below), among the deals the viewer may see. "
    "Amounts are in the company currency, rounded to cents; goals and submissions are null where the viewer "
    "may not see them (restricted)."
)
class ForecastRow:
    # A view of the row's arithmetic (resolvers.forecasts.arithmetic): each field is worked out only when
    # selected, and needs nothing but the row, so the compiled read path writes it without the executor.
    row: strawberry.Private[resolve.Row]
    subject_object: strawberry.Private[User | Team]
    place: strawberry.Private[resolve.Place]

    @classmethod
    def of(cls, row: resolve.Row, subject: User | Team, place: resolve.Place) -> "ForecastRow":
        return cls(row=row, subject_object=subject, place=place)

    @strawberry.field(description="The pipeline the numbers are for.")
    def pipeline(self) -> Pipeline:
        return Pipeline.of(self.place.pipeline)

    @strawberry.field(description="The period the numbers are for (the current one when none was asked).")
    def period(self) -> PeriodInfo:
        return PeriodInfo.of(self.place.period, self.place.fiscal_start)

    @strawberry.field(description="The user or team the row is about (a table's summary: the viewer).")
    def subject(self) -> ForecastSubject:
        return self.subject_object

    @strawberry.field(
        description="The goal for the period (a team without its own: the Σ of its members' goals); null "
        "without one, or when restricted."
    )
    def goal(self) -> Decimal | None:
        return _m(self.row.goal)

    @strawberry.field(description="Σ amount in company currency of the deals in a WON stage.")
    def closed_won(self) -> Decimal:
        return money(self.row.closed_won)

    @strawberry.field(description="goal − closedWon (negative when over goal); null without a goal.")
    def gap(self) -> Decimal | None:
        return _m(self.row.gap)

    @strawberry.field(description="closedWon ÷ goal; null without a goal or when it is 0.")
    def goal_attainment(self) -> float | None:
        return self.row.goal_attainment

    @strawberry.field(description="Σ amount in company currency of the deals in an OPEN stage.")
    def pipeline_value(self) -> Decimal:
        return money(self.row.pipeline_value)

    @strawberry.field(description="pipelineValue ÷ goal; null without a goal or when it is 0.")
    def pipeline_coverage(self) -> float | None:
        return self.row.pipeline_coverage

    @strawberry.field(description="Every forecast category, each with its forecast amount and deal count.")
    def categories(self) -> list[CategoryTotal]:
        return [
            CategoryTotal(category=_CATEGORY[name], amount=money(amount), count=count)
            for name, amount, count in self.row.categories
        ]

    @strawberry.field(description="Σ forecast amount of PIPELINE, BEST_CASE, COMMIT and CLOSED_WON.")
    def total(self) -> Decimal:
        return money(self.row.total)

    @strawberry.field(description="total ÷ goal; null without a goal or when it is 0.")
    def total_coverage(self) -> float | None:
        return self.row.total_coverage

    @strawberry.field(description="Σ weighted amount over every deal in scope, closed won included.")
    def weighted_pipeline(self) -> Decimal:
        return money(self.row.weighted_pipeline)

    @strawberry.field(description="The number of deals in scope, lost ones included.")
    def deal_count(self) -> int:
        return self.row.deal_count

    @strawberry.field(
        description="The latest submission for exactly this subject; null without one, or when restricted."
    )
    def submission(self) -> ForecastSubmission | None:
        record = self.row.submission
        return ForecastSubmission.of(record) if record is not None else None

    @strawberry.field(
        description="A team's Σ of its counted users' latest submissions; null for a user, or when "
        "restricted."
    )
    def submissions_total(self) -> Decimal | None:
        return _m(self.row.submissions_total)

    @strawberry.field(
        description="For a period that has ended: max(0, 1 − |closedWon − submission| ÷ closedWon); "
        "else null."
    )
    def accuracy(self) -> float | None:
        return self.row.accuracy

    @strawberry.field(
        description="True when goals and submissions of this subject are hidden from the viewer "
        "(team-only view)."
    )
    def restricted(self) -> bool:
        return self.row.restricted

    @strawberry.field(description="The adjustment in force, when the viewer may see it.")
    def adjustment(self) -> ForecastAdjustment | None:
        record = self.row.adjustment
        return ForecastAdjustment.of(record) if record is not None else None

    @strawberry.field(
        description="Adjustment, else submission, else (teams) the sum of the parts' calls, else total; "
        "null when restricted."
    )
    def call(self) -> Decimal | None:
        return _m(self.row.call)

    @strawberry.field(
        description="A statistical range for closedWon at the period's end (docs/prediction.md). Null for a "
        "period that has ended. A restricted row has one too: it rests on deals only."
    )
    def prediction(self) -> ForecastPrediction | None:
        found = self.row.prediction
        return ForecastPrediction.of(found) if found is not None else None


@strawberry.type(
    description="The forecast table: a summary row, one row per sub-team and one per counted user."
)
class Forecast:
    table: strawberry.Private[resolve.Table]

    @strawberry.field
    def pipeline(self) -> Pipeline:
        return Pipeline.of(self.table.pipeline)

    @strawberry.field
    def period(self) -> PeriodInfo:
        return PeriodInfo.of(self.table.period, self.table.fiscal_start)

    @strawberry.field(description="The team this table is for; null for the company-wide table.")
    def team(self) -> Team | None:
        return Team.of(self.table.team) if self.table.team else None

    def _row(self, row: resolve.Row) -> ForecastRow:
        table = self.table
        if row.subject.kind == USER:
            return ForecastRow.of(row, User.of(table.user_records[row.subject.id]), table.place)
        return ForecastRow.of(row, Team.of(table.team_records[row.subject.id]), table.place)

    @strawberry.field(description="The totals row of the table.")
    def summary(self) -> ForecastRow:
        return self._row(self.table.summary)

    @strawberry.field(description="One row per direct sub-team (or per root team in the company-wide table).")
    def teams(self) -> list[ForecastRow]:
        return [self._row(r) for r in self.table.teams]

    @strawberry.field(description="One row per sales-seat user counted in this table.")
    def users(self) -> list[ForecastRow]:
        return [self._row(r) for r in self.table.users]


def _pipeline_id(pipeline_id: strawberry.ID | None) -> int | None:
    return None if pipeline_id is None else ids.decode(pipeline_id, "Pipeline", "pipelineId")


async def subject_forecast_row(
    context: Context,
    subject: Subject,
    *,
    pipeline_id: strawberry.ID | None = None,
    period: Period | None = None,
    predict: bool = False,
) -> ForecastRow | None:
    """User.forecast and Team.forecast (also written by the compiled read path)."""
    found = await resolve.subject_row(context, subject, _pipeline_id(pipeline_id), period, predict=predict)
    if found is None:
        return None
    row, place = found
    return ForecastRow.of(row, await _subject(context, subject), place)


async def subject_forecast(
    info: strawberry.Info[Context], subject: Subject, pipeline_id: strawberry.ID | None, period: Period | None
) -> ForecastRow | None:
    predict = asks_prediction(info._raw_info.field_nodes, info._raw_info.fragments)
    return await subject_forecast_row(
        info.context, subject, pipeline_id=pipeline_id, period=period, predict=predict
    )


async def forecast_table(
    context: Context,
    *,
    pipeline_id: strawberry.ID | None = None,
    period: Period | None = None,
    team_id: strawberry.ID | None = None,
    predict: bool = False,
) -> "Forecast":
    """The forecast table (Query.forecast, also written by the compiled read path)."""
    team = ids.decode(team_id, "Team", "teamId") if team_id is not None else None
    table = await resolve.forecast_table(context, _pipeline_id(pipeline_id), period, team, predict=predict)
    return Forecast(table=table)


async def subject_goals(
    info: strawberry.Info[Context],
    subject: Subject,
    pipeline_id: strawberry.ID,
    start: Period | None,
    end: Period | None,
) -> list[Goal]:
    views = await resolve.goals_of(
        info.context, subject, ids.decode(pipeline_id, "Pipeline", "pipelineId"), start, end
    )
    return [Goal.of(v) for v in views]


async def subject_submissions(
    info: strawberry.Info[Context],
    subject: Subject,
    pipeline_id: strawberry.ID,
    period: Period | None,
    first: int | None,
    after: str | None,
    *,
    hidden_is_missing: bool,
) -> ForecastSubmissionConnection:
    page = await resolve.submissions(
        info.context,
        subject,
        ids.decode(pipeline_id, "Pipeline", "pipelineId"),
        period,
        hidden_is_missing=hidden_is_missing,
        page=arguments(info, first, after, SUBMISSIONS.order.name),
    )
    return connection(
        ForecastSubmissionConnection, info.context, page, SUBMISSIONS.order.name, ForecastSubmission.of
    )


@strawberry.type(description='A subject\'s numbers as of one moment (docs/domain.md "History").')
class ForecastPoint:
    point: strawberry.Private[resolve.Point]

    @strawberry.field(description="The moment.")
    def at(self) -> datetime:
        return self.point.at

    @strawberry.field(description="The total as of the moment (see ForecastRow.total).")
    def total(self) -> Decimal:
        return money(self.point.row.total)

    @strawberry.field(description="closedWon as of the moment.")
    def closed_won(self) -> Decimal:
        return money(self.point.row.closed_won)

    @strawberry.field(description="pipelineValue as of the moment.")
    def pipeline_value(self) -> Decimal:
        return money(self.point.row.pipeline_value)

    @strawberry.field(
        description="The call as of the moment; null where the viewer may not see the subject's submissions "
        "or adjustments (team-only view)."
    )
    def call(self) -> Decimal | None:
        return _m(self.point.row.call)


_STEPS_ORDER = "waterfall.DEAL_ID"


@strawberry.type(description="The part of a total's change that one kind of change accounts for.")
class WaterfallStep:
    step: strawberry.Private[resolve.Step]

    @strawberry.field(description="The kind of change.")
    def kind(self) -> WaterfallStepKind:
        return WaterfallStepKind(self.step.kind)

    @strawberry.field(
        description="The change of total this step accounts for (signed; in cents, apportioned so that the "
        "steps add up to endTotal - startTotal exactly)."
    )
    def amount(self) -> Decimal:
        return self.step.amount

    @strawberry.field(description="How many deals this step took (whoever may see them today).")
    def deal_count(self) -> int:
        return len(self.step.deal_ids)

    @strawberry.field(
        description="The step's deals by id, those the viewer may see today (a deal reassigned out of their "
        "reach counts in the step but is not listed)."
    )
    async def deals(
        self, info: strawberry.Info[Context], first: int | None = None, after: str | None = None
    ) -> DealConnection:
        request = arguments(info, first, after, _STEPS_ORDER)
        page = await resolve.step_deals(info.context, self.step.deal_ids, request)
        return connection(DealConnection, info.context, page, _STEPS_ORDER, Deal.of)


@strawberry.type(description="How a subject's total moved between two moments, one step per kind.")
class ForecastWaterfall:
    found: strawberry.Private[resolve.Waterfall]
    subject_object: strawberry.Private[User | Team]
    moments: strawberry.Private[tuple[datetime, datetime]]

    @strawberry.field(description="The user or team.")
    def subject(self) -> ForecastSubject:
        return self.subject_object

    @strawberry.field(name="from", description="The start moment.")
    def from_(self) -> datetime:
        return self.moments[0]

    @strawberry.field(description="The end moment.")
    def to(self) -> datetime:
        return self.moments[1]

    @strawberry.field(description="The total as of `from`.")
    def start_total(self) -> Decimal:
        return self.found.start_total

    @strawberry.field(description="The total as of `to`.")
    def end_total(self) -> Decimal:
        return self.found.end_total

    @strawberry.field(
        description="One step per kind, in the enum's order; the amounts add up to endTotal - startTotal."
    )
    def steps(self) -> list[WaterfallStep]:
        return [WaterfallStep(step=step) for step in self.found.steps]


@strawberry.type
class ForecastQuery:
    @strawberry.field(
        description="The forecast table for a team (with its sub-teams and members), or for every team the "
        "viewer may see."
    )
    async def forecast(
        self,
        info: strawberry.Info[Context],
        pipeline_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The pipeline; without it, the company's first (oldest) one."),
        ] = None,
        period: Annotated[
            Period | None,
            strawberry.argument(description="The period; without it, the pipeline's current one (today's)."),
        ] = None,
        team_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The team whose table this is; without it, the company's (ALL), the viewer's "
                "highest team's (TEAM), or the viewer's own row."
            ),
        ] = None,
    ) -> Forecast:
        predict = asks_prediction(info._raw_info.field_nodes, info._raw_info.fragments)
        return await forecast_table(
            info.context, pipeline_id=pipeline_id, period=period, team_id=team_id, predict=predict
        )

    @strawberry.field(description="A subject's adjustments the viewer may see, newest first.")
    async def forecast_adjustments(
        self,
        info: strawberry.Info[Context],
        subject: SubjectInput,
        pipeline_id: strawberry.ID,
        period: Period | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ForecastAdjustmentConnection:
        order = ADJUSTMENTS.order.name
        page = await resolve.adjustments(
            info.context,
            subject.decoded(),
            ids.decode(pipeline_id, "Pipeline", "pipelineId"),
            period,
            arguments(info, first, after, order),
        )
        return connection(ForecastAdjustmentConnection, info.context, page, order, ForecastAdjustment.of)

    @strawberry.field(
        description="A subject's numbers at `points` evenly spaced moments from the period's start to now or "
        "its end (none before it starts). Deals as their history says they were; goals, submissions and "
        "adjustments as set by then; exchange rates of each moment's day; today's teams, stage mappings, "
        "settings and permissions."
    )
    async def forecast_trend(
        self,
        info: strawberry.Info[Context],
        subject: SubjectInput,
        pipeline_id: strawberry.ID,
        period: Period,
        points: Annotated[
            int | None,
            strawberry.argument(description="How many moments (1–100; 13: about weekly in a quarter)."),
        ] = 13,
    ) -> list[ForecastPoint]:
        found = await resolve.trend(
            info.context,
            subject.decoded(),
            ids.decode(pipeline_id, "Pipeline", "pipelineId"),
            period,
            13 if points is None else points,
        )
        return [ForecastPoint(point=p) for p in found]

    @strawberry.field(description="How the subject's total moved between two moments.")
    async def forecast_changes(
        self,
        info: strawberry.Info[Context],
        subject: SubjectInput,
        pipeline_id: strawberry.ID,
        period: Period,
        from_: Annotated[datetime, strawberry.argument(name="from", description="The start moment.")],
        to: Annotated[datetime, strawberry.argument(description="The end moment (after `from`).")],
    ) -> ForecastWaterfall:
        decoded = subject.decoded()
        found = await resolve.changes(
            info.context, decoded, ids.decode(pipeline_id, "Pipeline", "pipelineId"), period, from_, to
        )
        return ForecastWaterfall(
            found=found, subject_object=await _subject(info.context, decoded), moments=(from_, to)
        )

    @strawberry.field(description="A subject's submissions, newest first.")
    async def forecast_submissions(
        self,
        info: strawberry.Info[Context],
        subject: SubjectInput,
        pipeline_id: strawberry.ID,
        period: Period | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ForecastSubmissionConnection:
        return await subject_submissions(
            info, subject.decoded(), pipeline_id, period, first, after, hidden_is_missing=True
        )


@strawberry.input(description="A forecast: an amount in company currency for a subject, pipeline and period.")
class SubmitForecastInput:
    subject: SubjectInput | None = strawberry.field(
        default=None, description="Whose forecast it is; without it, the viewer's own."
    )
    pipeline_id: strawberry.ID
    period: Period
    amount: Decimal
    note: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A client-chosen key: a retried submission with the same key is stored once.",
    )


@strawberry.input(
    description="A manager's judgment of a subject's forecast for a period (forecast:adjust); append-only, "
    "the latest is in force."
)
class AdjustForecastInput:
    subject: SubjectInput
    pipeline_id: strawberry.ID
    period: Period
    amount: Decimal | None = strawberry.field(
        default=None, description="Null clears the adjustment in force."
    )
    note: str = strawberry.field(description="Why: 1–2,000 characters.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A client-chosen key: a retried adjustment with the same key is stored once.",
    )


@strawberry.input(description="A goal; setting one again keeps the old value in history.")
class SetGoalInput:
    subject: SubjectInput
    pipeline_id: strawberry.ID
    period: Period
    amount: Decimal


@strawberry.type
class ForecastMutation:
    @strawberry.mutation(description="Submit a forecast (forecast:edit).")
    async def submit_forecast(
        self, info: strawberry.Info[Context], input: SubmitForecastInput
    ) -> ForecastSubmission:
        record = await resolve.submit(
            info.context,
            input.subject.decoded() if input.subject else Subject.user(info.context.viewer.id),
            ids.decode(input.pipeline_id, "Pipeline", "pipelineId"),
            input.period,
            input.amount,
            input.note,
            input.idempotency_key,
        )
        return ForecastSubmission.of(record)

    @strawberry.mutation(
        description="Adjust a subject's forecast (forecast:adjust): never one's own, never a team one heads."
    )
    async def adjust_forecast(
        self, info: strawberry.Info[Context], input: AdjustForecastInput
    ) -> ForecastAdjustment:
        record = await resolve.adjust(
            info.context,
            input.subject.decoded(),
            ids.decode(input.pipeline_id, "Pipeline", "pipelineId"),
            input.period,
            input.amount,
            input.note,
            input.idempotency_key,
        )
        return ForecastAdjustment.of(record)

    @strawberry.mutation(description="Set a goal (goal:edit).")
    async def set_goal(self, info: strawberry.Info[Context], input: SetGoalInput) -> Goal:
        subject = input.subject.decoded()
        record = await resolve.set_goal(
            info.context,
            subject,
            ids.decode(input.pipeline_id, "Pipeline", "pipelineId"),
            input.period,
            input.amount,
        )
        return Goal.of(resolve.GoalView.of(record))
