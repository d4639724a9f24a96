"""The permissions of DOMAIN.md §6: which (resource, action) pairs exist and which scopes each takes."""

from dataclasses import dataclass
from typing import Literal

ScopeName = Literal["ALL", "TEAM", "OWN", "NONE"]
RANK: dict[str, int] = {"NONE": 0, "OWN": 1, "TEAM": 2, "ALL": 3}

# (resource, action) → the scopes it takes, and whether the `unassigned` flag means anything for it.
PERMISSIONS: dict[tuple[str, str], tuple[tuple[str, ...], bool]] = {
    ("deal", "view"): (("ALL", "TEAM", "OWN", "NONE"), True),
    ("deal", "edit"): (("ALL", "TEAM", "OWN", "NONE"), True),
    ("forecast", "view"): (("ALL", "TEAM", "OWN", "NONE"), False),
    ("forecast", "edit"): (("ALL", "TEAM", "OWN", "NONE"), False),
    ("goal", "edit"): (("ALL", "TEAM", "NONE"), False),
    ("forecast", "settings"): (("ALL", "NONE"), False),
    ("directory", "manage"): (("ALL", "NONE"), False),
    ("permissions", "manage"): (("ALL", "NONE"), False),
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What one (resource, action) allows: a scope, and for deals whether unassigned ones are included."""

    scope: str = "NONE"
    unassigned: bool = False

    def covers(self, other: "Grant") -> bool:
        """Whether holding this grant is at least as wide as `other` (nobody grants beyond their own)."""
        if RANK[self.scope] < RANK[other.scope]:
            return False
        return not other.unassigned or self.unassigned or self.scope == "ALL"


NOTHING = Grant()


def widest(grants: list[Grant]) -> Grant:
    """The widest scope wins; the unassigned flag of any grant that allows something carries over."""
    if not grants:
        return NOTHING
    best = max(grants, key=lambda g: RANK[g.scope])
    return Grant(best.scope, any(g.unassigned for g in grants if g.scope != "NONE"))
