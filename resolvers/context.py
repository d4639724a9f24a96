"""The per-request Context: the viewer, their Access, the database and fresh DataLoaders."""

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.dataloader import DataLoader

from authz.access import Access
from authz.policies import Policies
from db.pagination import Page
from db.pipelines import (
    CompanySettingsRecord,
    PipelineRecord,
    StageRecord,
    pipelines_by_ids,
    read_company_settings,
    stages_by_ids,
    stages_by_pipeline_ids,
)
from db.teams import (
    MembershipRecord,
    TeamRecord,
    children_by_parent,
    memberships_by_user,
    teams_by_ids,
)
from db.users import UserRecord, managers_by_team, users_by_ids
from resolvers.loaders import Loader, keyed_loader


async def _settings(conn: AsyncConnection, keys: Sequence[None]) -> dict[None, CompanySettingsRecord]:
    return {None: await read_company_settings(conn)}


PageFetch = Callable[[AsyncConnection, Sequence[int]], Awaitable[dict[int, Page[Any]]]]


K = TypeVar("K")
V = TypeVar("V")


def _records(
    fetch: Callable[[AsyncConnection, Sequence[K]], Awaitable[Mapping[K, V]]], default: V
) -> "cached_property[DataLoader[K, V]]":
    """A Loaders attribute: a loader of rows as stored (the same whoever the viewer is; what a viewer may
    see of them is the resolvers' call), made on first use."""

    def make(loaders: "Loaders") -> DataLoader[K, V]:
        return keyed_loader(loaders.engine, fetch, default)

    return cached_property(make)


class Loaders:
    """DataLoaders named <Things>By<Key>, each made on first use in a request (most requests use a few);
    each batch takes its own connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._by_arguments: dict[Hashable, DataLoader[Any, Any]] = {}

    users_by_id: cached_property[DataLoader[int, UserRecord | None]] = _records(users_by_ids, None)
    teams_by_id: cached_property[DataLoader[int, TeamRecord | None]] = _records(teams_by_ids, None)
    children_by_team: cached_property[DataLoader[int, list[TeamRecord]]] = _records(children_by_parent, [])
    managers_by_team: cached_property[DataLoader[int, list[UserRecord]]] = _records(managers_by_team, [])
    memberships_by_user: cached_property[DataLoader[int, list[MembershipRecord]]] = _records(
        memberships_by_user, []
    )
    pipelines_by_id: cached_property[DataLoader[int, PipelineRecord | None]] = _records(
        pipelines_by_ids, None
    )
    stages_by_id: cached_property[DataLoader[int, StageRecord | None]] = _records(stages_by_ids, None)
    stages_by_pipeline: cached_property[DataLoader[int, list[StageRecord]]] = _records(
        stages_by_pipeline_ids, []
    )
    settings: cached_property[DataLoader[None, CompanySettingsRecord | None]] = _records(_settings, None)

    def records_of(self) -> "Loaders":
        """Loaders sharing these ones' record loaders (rows as stored, the same for every viewer) with
        loaders by arguments of their own (those may hold a viewer's visibility)."""
        shared = Loaders(self.engine)
        for name, attribute in vars(Loaders).items():
            if isinstance(attribute, cached_property):
                setattr(shared, name, getattr(self, name))
        return shared

    def pages(self, arguments: Hashable, fetch: PageFetch) -> DataLoader[int, Page[Any]]:
        """A loader of one page per parent for one set of list arguments (one statement per batch)."""
        return self.by_arguments(arguments, fetch, Page([], [], False, False, 0))

    def by_arguments(
        self,
        arguments: Hashable,
        fetch: Callable[[AsyncConnection, Sequence[Any]], Awaitable[Mapping[Any, Any]]],
        default: Any,
    ) -> DataLoader[Any, Any]:
        """The request's loader for a field with these arguments, made on first use."""
        loader = self._by_arguments.get(arguments)
        if loader is None:
            loader = self._by_arguments[arguments] = keyed_loader(self.engine, fetch, default)
        return loader

    def batched(
        self, arguments: Hashable, load: Callable[[Sequence[Any]], Awaitable[list[Any]]]
    ) -> DataLoader[Any, Any]:
        """The request's loader for work batched over keys that reads through other loaders (it holds no
        connection of its own), made on first use."""
        loader = self._by_arguments.get(arguments)
        if loader is None:
            loader = self._by_arguments[arguments] = Loader(load_fn=load)
        return loader

    def prime_users(self, records: Sequence[UserRecord]) -> None:
        for record in records:
            self.users_by_id.prime(record.id, record)


@dataclass
class Context:
    viewer: UserRecord
    access: Access
    policies: Policies
    engine: AsyncEngine
    loaders: Loaders
    cursor_key: bytes
    # On a WebSocket: the connection's live state (pipecast.live.Connection) and its connection_init
    # payload (set by Strawberry). Over HTTP both stay None.
    live: Any = None
    connection_params: dict[str, Any] | None = None
