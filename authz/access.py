"""What the viewer may do, resolved once per request and handed to the SQL as predicates.

The grants come from the process's Casbin enforcer (in memory, one lookup per request); a scope
becomes a WHERE clause on the owner column, so lists, counts, nested fields and node lookups all obey
the same rule without a check per row.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, any_, bindparam, false, literal, or_

from authz.catalog import NOTHING, Grant
from authz.roles import ADMIN
from db.sql import OwnerScope
from db.tables import deals
from db.vocabulary import ALL_SCOPE, OWN_SCOPE, TEAM_SCOPE

# The parameters a statement built once per shape reads: who is asking, and their team reach.
VIEWER = bindparam("viewer", type_=BigInteger)
REACH = bindparam("reach", type_=ARRAY(BigInteger))


def owner_predicate(
    grant: Grant, owner: ColumnElement[Any], viewer: ColumnElement[Any], reach: ColumnElement[Any]
) -> ColumnElement[bool] | None:
    """A grant as a predicate on an owner column, given the viewer's id and team reach (values or SQL
    parameters); None when the grant allows everything."""
    if grant.scope == ALL_SCOPE:
        return None
    allowed: list[ColumnElement[bool]] = []
    if grant.scope in (TEAM_SCOPE, OWN_SCOPE):
        allowed.append(owner == viewer)
    if grant.scope == TEAM_SCOPE:
        allowed.append(owner == any_(reach))
    if grant.unassigned:
        allowed.append(owner.is_(None))
    return or_(*allowed) if allowed else false()


@dataclass(frozen=True)
class Access:
    viewer_id: int
    grants: dict[tuple[str, str], Grant]
    roles: frozenset[str]
    # The users whose primary or extra team is one of the viewer's teams or below (read once per request
    # when a TEAM scope needs it): an array parameter is far cheaper in every statement than the tree.
    team_reach: frozenset[int] = frozenset()
    _memo: dict[str, ColumnElement[bool] | None] = field(default_factory=dict, compare=False, repr=False)

    def grant(self, resource: str, action: str) -> Grant:
        return self.grants.get((resource, action), NOTHING)

    def can(self, resource: str, action: str) -> bool:
        """Whether the viewer holds (resource, action) with scope ALL (admin-level permissions)."""
        return self.grant(resource, action).scope == ALL_SCOPE

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def owners(self, resource: str, action: str, owner: ColumnElement[Any]) -> ColumnElement[bool] | None:
        """The predicate on an owner column for (resource, action); None when everything is allowed."""
        reach = literal(sorted(self.team_reach), ARRAY(BigInteger))
        return owner_predicate(
            self.grant(resource, action), owner, literal(self.viewer_id, BigInteger), reach
        )

    def scope(self, resource: str, action: str) -> OwnerScope:
        """(resource, action) as a predicate on an owner column with the VIEWER and REACH parameters."""
        grant = self.grant(resource, action)
        return OwnerScope(
            grant,
            lambda owner: owner_predicate(grant, owner, VIEWER, REACH),
            {"viewer": self.viewer_id, "reach": sorted(self.team_reach)},
        )

    def reaches(self, resource: str, action: str, owner: int | None) -> bool:
        """Whether (resource, action) reaches a row of this owner: the predicate of `owners` (and of
        owner_predicate) evaluated in Python, for rows already read (live events)."""
        grant = self.grant(resource, action)
        if grant.scope == ALL_SCOPE:
            return True
        if owner is None:
            return grant.unassigned
        return (grant.scope in (TEAM_SCOPE, OWN_SCOPE) and owner == self.viewer_id) or (
            grant.scope == TEAM_SCOPE and owner in self.team_reach
        )

    def deals_visible(self) -> ColumnElement[bool] | None:
        """The deals the viewer may see anywhere (deal:view); built once per request."""
        if "deal:view" not in self._memo:
            self._memo["deal:view"] = self.owners("deal", "view", deals.c.owner_id)
        return self._memo["deal:view"]
