"""The per-request Context: the viewer, their Access, the database and fresh DataLoaders."""

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
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


PageFetch = Callable[[AsyncConnection, Sequence[int]], Awaitable[dict[int, Page[Any]]]]


@dataclass
class Loaders:
    """DataLoaders named <Things>By<Key>, built once per request; each batch takes its own connection."""

    engine: AsyncEngine
    users_by_id: DataLoader[int, UserRecord | None] = field(init=False)
    teams_by_id: DataLoader[int, TeamRecord | None] = field(init=False)
    children_by_team: DataLoader[int, list[TeamRecord]] = field(init=False)
    managers_by_team: DataLoader[int, list[UserRecord]] = field(init=False)
    memberships_by_user: DataLoader[int, list[MembershipRecord]] = field(init=False)
    pipelines_by_id: DataLoader[int, PipelineRecord | None] = field(init=False)
    stages_by_id: DataLoader[int, StageRecord | None] = field(init=False)
    stages_by_pipeline: DataLoader[int, list[StageRecord]] = field(init=False)
    settings: DataLoader[None, CompanySettingsRecord | None] = field(init=False)
    _by_arguments: dict[Hashable, DataLoader[Any, Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.users_by_id = keyed_loader(self.engine, users_by_ids, None)
        self.teams_by_id = keyed_loader(self.engine, teams_by_ids, None)
        self.children_by_team = keyed_loader(self.engine, children_by_parent, [])
        self.managers_by_team = keyed_loader(self.engine, managers_by_team, [])
        self.memberships_by_user = keyed_loader(self.engine, memberships_by_user, [])
        self.pipelines_by_id = keyed_loader(self.engine, pipelines_by_ids, None)
        self.stages_by_id = keyed_loader(self.engine, stages_by_ids, None)
        self.stages_by_pipeline = keyed_loader(self.engine, stages_by_pipeline_ids, [])
        self.settings = keyed_loader(self.engine, _settings, None)

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
