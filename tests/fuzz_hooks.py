"""Schemathesis hooks for the GraphQL fuzz runs (tests/test_fuzz.py loads them via SCHEMATHESIS_HOOKS).

Strategies for Pipecast's own scalars, mostly valid so that fuzzing gets past input validation and
sometimes not, real global IDs from the fuzzed database (PIPECAST_FUZZ_IDS) beside forged ones, and the
check that matters: no 5xx and no error but the public ones.
"""

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes, scalar
from strawberry.relay import to_base64

PUBLIC_CODES = {"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "CONFLICT"}
KNOWN_IDS = [i for i in os.environ.get("PIPECAST_FUZZ_IDS", "").split(",") if i]
NODE_TYPES = [
    "User",
    "Team",
    "Pipeline",
    "Stage",
    "Deal",
    "AuditEntry",
    "ForecastSubmission",
    "Goal",
    "ForecastAdjustment",
]


def mostly(valid: st.SearchStrategy[str], *invalid: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Valid values four times in five (an input with several fields must get past validation often),
    else one of the invalid kinds; as GraphQL string literals."""
    wrong = st.one_of(st.text(max_size=30), *invalid)
    return st.integers(0, 4).flatmap(lambda n: valid if n else wrong).map(nodes.String)


forged_ids = st.builds(to_base64, st.sampled_from(NODE_TYPES), st.integers(-(2**70), 2**70))
money = st.decimals(min_value=-(10**13), max_value=10**13, places=2, allow_nan=False, allow_infinity=False)
periods = st.from_regex(r"\A(19|20|21)\d\d-(0[1-9]|1[0-2]|Q[1-4])\Z")
moments = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())

scalar("ID", mostly(st.sampled_from(KNOWN_IDS or ["VXNlcjox"]), forged_ids))
scalar("Decimal", mostly(money.map(str), st.sampled_from(["NaN", "-Infinity", "1e999", "0x10"])))
scalar("Period", mostly(periods, st.sampled_from(["2026-13", "2026-Q5", "0000-01"])))
scalar("Date", mostly(st.dates().map(str), st.sampled_from(["2026-02-30", "2026-W01"])))
scalar("DateTime", mostly(moments, st.sampled_from(["2026-11-27T09:00:00"])))


@schemathesis.check
def only_public_errors(ctx: Any, response: Any, case: Any) -> None:
    """No 5xx, and every error carries one of the public codes: nothing masked, nothing leaked."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in PUBLIC_CODES, f"{code}: {error.get('message')}"
