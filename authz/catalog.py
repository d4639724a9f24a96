"""The permissions of docs/domain.md: which (resource, action) pairs exist and which scopes each takes."""

from dataclasses import dataclass

from db.vocabulary import ALL_SCOPE, NO_SCOPE, SCOPES, TEAM_SCOPE

RANK: dict[str, int] = {scope: len(SCOPES) - 1 - n for n, scope in enumerate(SCOPES)}  # NONE 0 … ALL 3

# (resource, action) → the scopes it takes, and whether the `unassigned` flag means anything for it.
PERMISSIONS: dict[tuple[str, str], tuple[tuple[str, ...], bool]] = {
    ("deal", "view"): (SCOPES, True),
    ("deal", "edit"): (SCOPES, True),
    ("forecast", "view"): (SCOPES, False),
    ("forecast", "edit"): (SCOPES, False),
    ("goal", "edit"): ((ALL_SCOPE, TEAM_SCOPE, NO_SCOPE), False),
    ("forecast", "adjust"): ((ALL_SCOPE, TEAM_SCOPE, NO_SCOPE), False),
    ("forecast", "settings"): ((ALL_SCOPE, NO_SCOPE), False),
    ("directory", "manage"): ((ALL_SCOPE, NO_SCOPE), False),
    ("permissions", "manage"): ((ALL_SCOPE, NO_SCOPE), False),
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What one (resource, action) allows: a scope, and for deals whether unassigned ones are included."""

    scope: str = NO_SCOPE
    unassigned: bool = False

    def covers(self, other: "Grant") -> bool:
        """Whether holding this grant is at least as wide as `other` (nobody grants beyond their own)."""
        if RANK[self.scope] < RANK[other.scope]:
            return False
        return not other.unassigned or self.unassigned or self.scope == ALL_SCOPE


NOTHING = Grant()


def widest(grants: list[Grant]) -> Grant:
    """The widest scope wins; the unassigned flag of any grant that allows something carries over."""
    if not grants:
        return NOTHING
    best = max(grants, key=lambda g: RANK[g.scope])
    return Grant(best.scope, any(g.unassigned for g in grants if g.scope != NO_SCOPE))
