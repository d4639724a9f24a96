"""Who may see and do what in the forecast (docs/domain.md): the rules, over the viewer's grants and teams.

- forecast:view decides whose rows a viewer sees: ALL everyone's; TEAM their teams' and teammates' (any
  team they belong to, and everything below it); OWN their own. NONE sees no forecast at all.
- Goals and submissions (and everything derived from them) are *open* only to ALL viewers, to the
  subject themselves and to those who manage the subject; elsewhere a row is restricted (team-only view).
- forecast:edit and goal:edit: ALL anyone; TEAM what the viewer manages (the teams and their members),
  and for forecast:edit themselves too, never for goal:edit; OWN (forecast:edit) themselves.
- forecast:adjust (§7): ALL anyone but oneself; TEAM what lies below the viewer — the teams under those
  they head, at any depth, and the counted users of the teams they manage; never oneself, never a team
  they head. An adjustment is seen by those who may make it and by forecast:view ALL, nobody else.

The rules read no database: a resolver gives them the viewer's teams (db.teams.viewer_teams) and, for a
user subject, the teams that user belongs to.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from authz.catalog import NOTHING, Grant
from db.forecasts import Subject
from db.teams import ViewerTeams
from db.vocabulary import ALL_SCOPE, NO_SCOPE, OWN_SCOPE, TEAM_SCOPE, USER

ALL, TEAM, OWN, NONE = ALL_SCOPE, TEAM_SCOPE, OWN_SCOPE, NO_SCOPE
NO_TEAMS = ViewerTeams(frozenset(), frozenset(), frozenset())


def needs_teams(view: Grant, viewer_id: int, subjects: Iterable[Subject]) -> bool:
    """Whether `sees` and `opens` depend on teams for these subjects: not under ALL, and never for the
    viewer's own row — so those answers need neither the viewer's teams nor the subjects'."""
    return view.scope != ALL and any(s != Subject.user(viewer_id) for s in subjects)


@dataclass(frozen=True)
class ForecastRules:
    viewer_id: int
    view: Grant  # forecast:view
    teams: ViewerTeams
    adjust: Grant = NOTHING  # forecast:adjust

    def _myself(self, subject: Subject) -> bool:
        return subject.kind == USER and subject.id == self.viewer_id

    def sees(self, subject: Subject, teams_of_user: frozenset[int] = frozenset()) -> bool:
        """Whether forecast:view reaches the subject's row (`teams_of_user`: a user subject's teams)."""
        scope = self.view.scope
        if scope == ALL:
            return True
        if subject.kind == USER:
            return self._myself(subject) or (scope == TEAM and bool(teams_of_user & self.teams.reach))
        return scope == TEAM and subject.id in self.teams.reach

    def opens(self, subject: Subject, teams_of_user: frozenset[int] = frozenset()) -> bool:
        """Whether the subject's goals and submissions are open to the viewer (not the team-only view)."""
        if self.view.scope == ALL:
            return True
        if subject.kind == USER:
            return self._myself(subject) or bool(teams_of_user & self.teams.managed)
        return subject.id in self.teams.managed

    def may(self, grant: Grant, subject: Subject, teams_of_user: frozenset[int] = frozenset(), *,
            includes_oneself: bool) -> bool:  # fmt: skip
        """Whether a write permission (forecast:edit, goal:edit) with this grant reaches the subject;
        `includes_oneself`: whether TEAM covers the viewer themselves (forecast:edit does, goal:edit not)."""
        if grant.scope == ALL:
            return True
        if grant.scope == OWN:
            return self._myself(subject)
        if grant.scope != TEAM:
            return False
        if self._myself(subject):
            return includes_oneself
        if subject.kind == USER:
            return bool(teams_of_user & self.teams.managed)
        return subject.id in self.teams.managed

    def may_adjust(self, subject: Subject, counted_in: int | None = None) -> bool:
        """Whether forecast:adjust reaches the subject (`counted_in`: a user subject's primary team when
        they have a sales seat, else None)."""
        if self._myself(subject) or self.adjust.scope not in (ALL, TEAM):
            return False
        if self.adjust.scope == ALL:
            return True
        if subject.kind == USER:
            return counted_in is not None and counted_in in self.teams.managed
        return subject.id in self.teams.managed and subject.id not in self.teams.headed

    def sees_adjustment(self, subject: Subject, counted_in: int | None = None) -> bool:
        """Whether the viewer sees the subject's adjustments (elsewhere they count as absent)."""
        return self.view.scope == ALL or self.may_adjust(subject, counted_in)
