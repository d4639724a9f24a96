"""The contract's enums; their values are the strings stored in the database."""

from enum import Enum

import strawberry


@strawberry.enum(description="The length of a forecast period.")
class PeriodKind(Enum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"


@strawberry.enum(description="Forecast categories, from least to most certain.")
class ForecastCategory(Enum):
    NOT_FORECASTED = "NOT_FORECASTED"
    PIPELINE = "PIPELINE"
    BEST_CASE = "BEST_CASE"
    COMMIT = "COMMIT"
    CLOSED_WON = "CLOSED_WON"


@strawberry.enum(description="Whether a stage is open, won or lost.")
class StageState(Enum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


@strawberry.enum(description="Which amount the forecast columns use: weighted by probability, or raw.")
class ForecastAmountBasis(Enum):
    WEIGHTED = "WEIGHTED"
    RAW = "RAW"


@strawberry.enum(description="A member of a team, or its manager.")
class MembershipRole(Enum):
    MEMBER = "MEMBER"
    MANAGER = "MANAGER"


@strawberry.enum(description="How a deal's stage moved over a date range.")
class StageMovement(Enum):
    FORWARD = "FORWARD"
    BACKWARD = "BACKWARD"
    NONE = "NONE"


@strawberry.enum(description="How a deal's weighted amount changed over a date range.")
class AmountChange(Enum):
    INCREASED = "INCREASED"
    DECREASED = "DECREASED"
    NONE = "NONE"


@strawberry.enum(
    description="How far a permission reaches: everyone, the viewer's teams, their own, nothing."
)
class Scope(Enum):
    ALL = "ALL"
    TEAM = "TEAM"
    OWN = "OWN"
    NONE = "NONE"
