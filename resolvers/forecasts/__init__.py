"""The forecast tool (docs/domain.md), in parts:

- `access`: the permission checks of a request (the rules are authz.forecasts');
- `arithmetic`: a row's numbers from its figures, pure and database-free;
- `table`: which rows a table has, their facts in a handful of statements, one row builder;
- `goals`, `submissions` and `adjustments`: reading and writing them (`entries`: what the last two share);
- `history`: the trend and the waterfall of a subject's forecast.
"""

from resolvers.forecasts.adjustments import adjust, adjustment_by_ids, adjustments
from resolvers.forecasts.arithmetic import Row
from resolvers.forecasts.goals import GoalView, db_period, goal_by_ids, goals_of, set_goal
from resolvers.forecasts.history import Point, Step, Waterfall, changes, step_deals, trend
from resolvers.forecasts.submissions import submission_by_ids, submissions, submit
from resolvers.forecasts.table import Place, Table, forecast_table, subject_row

__all__ = [
    "GoalView",
    "Place",
    "Point",
    "Row",
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
    "set_goal",
    "step_deals",
    "subject_row",
    "submission_by_ids",
    "submissions",
    "submit",
    "trend",
]
