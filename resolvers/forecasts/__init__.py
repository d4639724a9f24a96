"""The forecast tool (docs/domain.md), in parts:

- `access`: the permission checks of a request (the rules are authz.forecasts');
- `arithmetic`: a row's numbers from its figures, pure and database-free;
- `table`: which rows a table has, their facts in a handful of statements, one row builder;
- `goals`, `submissions` and `adjustments`: reading and writing them (`entries`: what the last two share);
- `history`: the trend and the waterfall of a subject's forecast;
- `prediction`: the range of a row's closedWon at the period's end from its open deals, pure;
  `outlook`: the learned stage rates and the rows' open deals it is worked out from.
"""

from resolvers.forecasts.adjustments import adjust, adjustment_by_ids, adjustments
from resolvers.forecasts.arithmetic import Row
from resolvers.forecasts.goals import GoalView, db_period, goal_by_ids, goals_of, set_goal
from resolvers.forecasts.history import Point, Step, Waterfall, changes, step_deals, trend
from resolvers.forecasts.outlook import RowPrediction, StageRate, outcome_rates
from resolvers.forecasts.submissions import submission_by_ids, submissions, submit
from resolvers.forecasts.table import Place, Table, forecast_table, subject_row

__all__ = [
    "GoalView",
    "Place",
    "Point",
    "Row",
    "RowPrediction",
    "StageRate",
    "Step",
    "Table",
    "Waterfall",
    "adjust",
    "adjustment_by_ids",
    "adjustments",
    "changes",
    "db_period",
    "forecast_table",
    "goal_by_ids",
    "goals_of",
    "outcome_rates",
    "set_goal",
    "step_deals",
    "subject_row",
    "submission_by_ids",
    "submissions",
    "submit",
    "trend",
]
