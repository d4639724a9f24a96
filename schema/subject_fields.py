"""The forecast fields that users and teams share (goals, forecast row), written once.

Each resolver names its subject from the object it is resolved on (a User or a Team: its SUBJECT_KIND).
"""

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from db.forecasts import Subject
from db.periods import Period
from resolvers.context import Context

if TYPE_CHECKING:
    from schema.forecasts import ForecastRow, Goal


def _subject(root: Any) -> Subject:
    """The subject a User or Team object stands for."""
    return Subject(root.SUBJECT_KIND, root.id)


async def subject_goals(
    root: Any,
    info: strawberry.Info[Context],
    pipeline_id: strawberry.ID,
    from_: Annotated[Period | None, strawberry.argument(name="from")] = None,
    to: Period | None = None,
) -> list[Annotated["Goal", strawberry.lazy("schema.forecasts")]]:
    from schema.forecasts import subject_goals as goals  # noqa: PLC0415  (forecasts refer to users and teams)

    return await goals(info, _subject(root), pipeline_id, from_, to)


async def subject_forecast(
    root: Any,
    info: strawberry.Info[Context],
    pipeline_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="The pipeline; without it, the company's first (oldest) one."),
    ] = None,
    period: Annotated[
        Period | None,
        strawberry.argument(description="The period; without it, the pipeline's current one (today's)."),
    ] = None,
) -> Annotated["ForecastRow", strawberry.lazy("schema.forecasts")] | None:
    from schema.forecasts import subject_forecast as forecast  # noqa: PLC0415

    return await forecast(info, _subject(root), pipeline_id, period)
