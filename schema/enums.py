"""The contract's enums. Their values are the domain's words of db/vocabulary.py (as stored in the
database), so every layer spells them the same way; what each value means is in schema/descriptions.py."""

from enum import Enum

import strawberry

from db import vocabulary as v


@strawberry.enum(description="The length of a forecast period.")
class PeriodKind(Enum):
    MONTH = v.MONTH
    QUARTER = v.QUARTER


@strawberry.enum(description="Forecast categories, from least to most certain.")
class ForecastCategory(Enum):
    NOT_FORECASTED = v.NOT_FORECASTED
    PIPELINE = v.PIPELINE
    BEST_CASE = v.BEST_CASE
    COMMIT = v.COMMIT
    CLOSED_WON = v.CLOSED_WON


@strawberry.enum(description="Whether a stage is open, won or lost.")
class StageState(Enum):
    OPEN = v.OPEN
    WON = v.WON
    LOST = v.LOST


@strawberry.enum(description="Which amount the forecast columns use: weighted by probability, or raw.")
class ForecastAmountBasis(Enum):
    WEIGHTED = v.WEIGHTED
    RAW = v.RAW


@strawberry.enum(description="A member of a team, or its manager.")
class MembershipRole(Enum):
    MEMBER = v.MEMBER
    MANAGER = strawberry.enum_value(
        v.MANAGER,
        description="Manages the team and everything below it (goals, submissions, team-only view).",
    )


@strawberry.enum(description="How a deal's stage moved over a date range.")
class StageMovement(Enum):
    FORWARD = v.FORWARD
    BACKWARD = v.BACKWARD
    NONE = v.NO_CHANGE


@strawberry.enum(description="How a deal's weighted amount changed over a date range.")
class AmountChange(Enum):
    INCREASED = v.INCREASED
    DECREASED = v.DECREASED
    NONE = v.NO_CHANGE


@strawberry.enum(
    description="How far a permission reaches: everyone, the viewer's teams, their own, nothing."
)
class Scope(Enum):
    ALL = v.ALL_SCOPE
    TEAM = strawberry.enum_value(
        v.TEAM_SCOPE,
        description="Records of users in the holder's teams (primary or extra) and teams below them.",
    )
    OWN = v.OWN_SCOPE
    NONE = v.NO_SCOPE


# The step kinds are db.vocabulary.WATERFALL_STEPS, spelled out so the enum is a plain class.
@strawberry.enum(description="What moved a forecast total between two moments (one step per kind).")
class WaterfallStepKind(Enum):
    NEW = "NEW"
    PULLED_IN = "PULLED_IN"
    PUSHED_OUT = "PUSHED_OUT"
    WON = "WON"
    LOST = "LOST"
    CATEGORY_IN = "CATEGORY_IN"
    CATEGORY_OUT = "CATEGORY_OUT"
    REASSIGNED = "REASSIGNED"
    INCREASED = v.INCREASED
    DECREASED = v.DECREASED
    RATE = "RATE"


assert tuple(k.value for k in WaterfallStepKind) == v.WATERFALL_STEPS
