"""The per-request Context: the viewer, their Access, the database and fresh DataLoaders."""

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

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


# Loaders of rows as stored, whatever the viewer (what a viewer may see of them is the resolvers' call).
RECORD_LOADERS = (
    "users_by_id",
    "teams_by_id",
    "children_by_team",
    "managers_by_team",
    "memberships_by_user",
    "pipelines_by_id",
    "stages_by_id",
    "stages_by_pipeline",
    "settings",
)
PageFetch = Callable[[AsyncConnection, Sequence[int]], Awaitable[dict[int, Page[Any]]]]


class Loaders:
    """DataLoaders named <Things>By<Key>, each made on first use in a request (most requests use a few);
    each batch takes its own connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._by_arguments: dict[Hashable, DataLoader[Any, Any]] = {}

    @cached_property
    def users_by_id(self) -> DataLoader[int, UserRecord | None]:
        return keyed_loader(self.engine, users_by_ids, None)

    @cached_property
    def teams_by_id(self) -> DataLoader[int, TeamRecord | None]:
        return keyed_loader(self.engine, teams_by_ids, None)

    @cached_property
    def children_by_team(self) -> DataLoader[int, list[TeamRecord]]:
        return keyed_loader(self.engine, children_by_parent, [])

    @cached_property
    def managers_by_team(self) -> DataLoader[int, list[UserRecord]]:
        return keyed_loader(self.engine, managers_by_team, [])

    @cached_property
    def memberships_by_user(self) -> DataLoader[int, list[MembershipRecord]]:
        return keyed_loader(self.engine, memberships_by_user, [])

    @cached_property
    def pipelines_by_id(self) -> DataLoader[int, PipelineRecord | None]:
        return keyed_loader(self.engine, pipelines_by_ids, None)

    @cached_property
    def stages_by_id(self) -> DataLoader[int, StageRecord | None]:
        return keyed_loader(self.engine, stages_by_ids, None)

    @cached_property
    def stages_by_pipeline(self) -> DataLoader[int, list[StageRecord]]:
        return keyed_loader(self.engine, stages_by_pipeline_ids, [])

    @cached_property
    def settings(self) -> DataLoader[None, CompanySettingsRecord | None]:
        return keyed_loader(self.engine, _settings, None)

    def records_of(self) -> "Loaders":
        """Loaders sharing these ones' record loaders (rows as stored, the same for every viewer) with
        loaders by arguments of their own (those may hold a viewer's visibility)."""
        shared = Loaders(self.engine)
        for name in RECORD_LOADERS:
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
