"""The request's DataLoaders against a real database: a cancelled caller does not cancel a shared load."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from db.users import UserRecord, users_by_ids
from resolvers.context import Loaders
from resolvers.loaders import keyed_loader


async def test_a_cancelled_field_leaves_the_shared_load_to_the_others(
    engine: AsyncEngine, admin: int
) -> None:
    """GraphQL cancels a field's pending siblings when an error nulls their parent; another field of the
    document awaiting the same key must still get its value (it got CancelledError: a 500)."""
    loaders = Loaders(engine)
    cancelled = asyncio.create_task(_load(loaders, admin))
    kept = asyncio.create_task(_load(loaders, admin))
    await asyncio.sleep(0)  # both wait on the batch for the same key
    cancelled.cancel()
    user = await kept
    assert user is not None
    assert user.id == admin
    assert cancelled.cancelled()
    # The key stays cached with its value: a later field gets it without a new statement.
    assert (await loaders.users_by_id.load(admin)) is user


async def test_batched_keys_each_get_their_value(engine: AsyncEngine, admin: int) -> None:
    loader = keyed_loader(engine, users_by_ids, None)
    found = await loader.load_many([admin, -1, admin])
    assert [u.id if u else None for u in found] == [admin, None, admin]


async def _load(loaders: Loaders, key: int) -> UserRecord | None:
    return await loaders.users_by_id.load(key)
