"""The forecast's data (docs/domain.md): who a row is about, goals, submissions and the table's figures.

A team's rows count its *counted users*: the sales-seat users whose primary team is the team or one of
its descendants; the company counts every sales-seat user.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_

from db.tables import team_memberships, users
from db.teams import team_closure
from db.vocabulary import TEAM, USER, SubjectKind


@dataclass(frozen=True, slots=True)
class Subject:
    """A user or a team, as a forecast row, goal, submission or adjustment is about."""

    kind: SubjectKind
    id: int

    @property
    def column(self) -> str:
        """The column naming the subject in goals, submissions and adjustments."""
        return f"{self.kind}_id"

    @classmethod
    def user(cls, user_id: int) -> "Subject":
        return cls(USER, user_id)

    @classmethod
    def team(cls, team_id: int) -> "Subject":
        return cls(TEAM, team_id)

    @classmethod
    def of(cls, user_id: int | None, team_id: int | None) -> "Subject":
        """The subject of a goal's, submission's or adjustment's row (exactly one of the two is set)."""
        return cls(USER, user_id) if user_id is not None else cls(TEAM, team_id or 0)


def counted_by_team(rows: Any, user_id: ColumnElement[Any]) -> Any:
    """`rows` joined to the teams that count their user: the sales-seat user's primary team and every
    team above it (as team_closure.ancestor)."""
    closure = team_closure()
    return (
        rows.join(users, and_(users.c.id == user_id, users.c.sales_seat))
        .join(team_memberships, and_(team_memberships.c.user_id == users.c.id, team_memberships.c.is_primary))
        .join(closure, closure.c.team == team_memberships.c.team_id)
    )
