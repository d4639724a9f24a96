"""Building DataLoaders: each batch runs on its own short connection from the pool."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.dataloader import DataLoader

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loader(DataLoader[K, V]):
    """A DataLoader whose cached futures survive a cancelled caller.

    Fields loading the same key share one future. GraphQL cancels a field's pending siblings when an
    error nulls their parent, and a task cancelled while awaiting a bare future cancels that future: a
    second field awaiting the same key elsewhere in the document would then get CancelledError, which no
    resolver error handling catches (the request failed with a 500). Each caller awaits a shield.
    """

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


def keyed_loader(
    engine: AsyncEngine,
    fetch: Callable[[AsyncConnection, Sequence[K]], Awaitable[Mapping[K, V]]],
    default: V,
) -> DataLoader[K, V]:
    """A loader over `fetch(conn, keys) -> {key: value}`; keys it does not return get `default`."""

    async def load(keys: Sequence[K]) -> list[V]:
        async with engine.connect() as conn:
            found = await fetch(conn, keys)
        return [found.get(key, default) for key in keys]

    return Loader(load_fn=load)


def forget(loader: DataLoader[K, V], key: K) -> None:
    """Drop a cached value after a write (Strawberry's `clear` fails on a key it never loaded)."""
    with contextlib.suppress(KeyError):
        loader.clear(key)
