"""The domain's words, written once (docs/domain.md): stage states, forecast categories, period kinds,
amount bases, membership roles, and the rules that tie a stage's state to a deal's category.

The database's CHECK constraints, the SQL definitions in `db`, the rules in `resolvers` and `authz`, and
the GraphQL enums in `schema` all read these.
"""

from typing import Final, Literal

StageState = Literal["OPEN", "WON", "LOST"]
OPEN: Final = "OPEN"
WON: Final = "WON"
LOST: Final = "LOST"
STAGE_STATES: Final = (OPEN, WON, LOST)

# Forecast categories, from least to most certain (the order the forecast table lists them in).
NOT_FORECASTED: Final = "NOT_FORECASTED"
PIPELINE: Final = "PIPELINE"
BEST_CASE: Final = "BEST_CASE"
COMMIT: Final = "COMMIT"
CLOSED_WON: Final = "CLOSED_WON"
FORECAST_CATEGORIES: Final = (NOT_FORECASTED, PIPELINE, BEST_CASE, COMMIT, CLOSED_WON)
# The categories whose forecast amounts make up a row's `total`.
IN_TOTAL: Final = (PIPELINE, BEST_CASE, COMMIT, CLOSED_WON)
# A closed stage decides the category whatever was chosen by hand.
FORCED_CATEGORY: Final[dict[str, str]] = {WON: CLOSED_WON, LOST: NOT_FORECASTED}
# The category a new stage maps to when none is given.
DEFAULT_CATEGORY: Final[dict[str, str]] = {OPEN: PIPELINE, WON: CLOSED_WON, LOST: NOT_FORECASTED}

PeriodKind = Literal["MONTH", "QUARTER"]
MONTH: Final = "MONTH"
QUARTER: Final = "QUARTER"
PERIOD_KINDS: Final = (MONTH, QUARTER)

WEIGHTED: Final = "WEIGHTED"
RAW: Final = "RAW"
AMOUNT_BASES: Final = (WEIGHTED, RAW)

# Whom a forecast row, goal, submission or adjustment is about.
SubjectKind = Literal["user", "team"]
USER: Final = "user"
TEAM: Final = "team"

MEMBER: Final = "MEMBER"
MANAGER: Final = "MANAGER"
MEMBERSHIP_ROLES: Final = (MEMBER, MANAGER)

# How far a permission reaches (authz): everyone's records, the holder's teams', their own, nothing.
ScopeName = Literal["ALL", "TEAM", "OWN", "NONE"]
ALL_SCOPE: Final = "ALL"
TEAM_SCOPE: Final = "TEAM"
OWN_SCOPE: Final = "OWN"
NO_SCOPE: Final = "NONE"
SCOPES: Final = (ALL_SCOPE, TEAM_SCOPE, OWN_SCOPE, NO_SCOPE)  # from widest to narrowest

# How a deal moved over a range of dates (its signals).
FORWARD: Final = "FORWARD"
BACKWARD: Final = "BACKWARD"
INCREASED: Final = "INCREASED"
DECREASED: Final = "DECREASED"
NO_CHANGE: Final = "NONE"

# The waterfall's steps (docs/domain.md "History"), in the order the first matching one takes a deal.
WATERFALL_STEPS: Final = (
    "NEW",
    "PULLED_IN",
    "PUSHED_OUT",
    "WON",
    "LOST",
    "CATEGORY_IN",
    "CATEGORY_OUT",
    "REASSIGNED",
    INCREASED,
    DECREASED,
    "RATE",
)
