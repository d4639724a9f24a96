"""A permission scope is one rule: its SQL predicate (what every read uses) and its evaluation on an owner
in Python (what live events use, on deals already read) agree for every scope, with and without
unassigned deals, on a real PostgreSQL."""

import pytest
from sqlalchemy import BigInteger, column, select, values
from sqlalchemy.ext.asyncio import AsyncEngine

from authz.access import Access
from authz.catalog import Grant
from db.vocabulary import SCOPES

VIEWER, REACH = 1, frozenset({2, 3})
OWNERS = [1, 2, 3, 4, None]  # the viewer, two in reach, one outside, unassigned


@pytest.mark.parametrize("unassigned", [False, True])
@pytest.mark.parametrize("scope", SCOPES)
async def test_the_sql_predicate_and_its_python_evaluation_agree(
    engine: AsyncEngine, scope: str, unassigned: bool
) -> None:
    access = Access(VIEWER, {("deal", "view"): Grant(scope, unassigned)}, frozenset(), REACH)
    owners = values(column("owner", BigInteger), name="owners").data([(o,) for o in OWNERS])
    owner = owners.c.owner
    predicate = access.owners("deal", "view", owner)
    query = select(owner)
    if predicate is not None:
        query = query.where(predicate)
    async with engine.connect() as conn:
        in_sql = set((await conn.execute(query)).scalars())
    in_python = {o for o in OWNERS if access.reaches("deal", "view", o)}
    assert in_sql == in_python, (scope, unassigned)
