"""The Casbin enforcer of one process, loaded from PostgreSQL and kept current across replicas.

Policies live in `casbin_rule` (p: subject, resource, action, scope, unassigned; g: user:<id>, role).
Pipecast writes them with SQL in the same transaction as the audit entry, then `NOTIFY`s; every process
LISTENs on a dedicated connection and reloads (debounced), reconnecting with backoff when that
connection drops. Requests only read the in-memory enforcer: no Casbin call or SQL per row.
"""

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import casbin
from casbin.persist.adapters.asyncio import AsyncAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from authz.catalog import Grant, widest
from authz.roles import CHANNEL
from db.engine import asyncpg_dsn
from db.listen import listen_forever
from db.tables import casbin_rule

log = logging.getLogger("pipecast.policies")

MODEL = Path(__file__).resolve().parent / "model.conf"
DEBOUNCE_SECONDS = 0.05


class PostgresAdapter(AsyncAdapter):  # type: ignore[misc]
    """Reads `casbin_rule`; Pipecast writes the table itself (see authz.admin), never through Casbin."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def load_policy(self, model: Any) -> None:
        columns = [casbin_rule.c[f"v{i}"] for i in range(6)]
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(casbin_rule.c.ptype, *columns).order_by(casbin_rule.c.id))
        for ptype, *values in rows:
            while values and values[-1] == "":
                values.pop()
            model.add_policy(ptype[0], ptype, values)

    async def save_policy(self, model: Any) -> bool:
        raise NotImplementedError("Pipecast writes policies with SQL (authz.admin)")

    async def add_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        raise NotImplementedError("Pipecast writes policies with SQL (authz.admin)")

    async def remove_policy(self, sec: str, ptype: str, rule: list[str]) -> bool:
        raise NotImplementedError("Pipecast writes policies with SQL (authz.admin)")

    async def remove_filtered_policy(
        self, sec: str, ptype: str, field_index: int, *field_values: str
    ) -> bool:
        raise NotImplementedError("Pipecast writes policies with SQL (authz.admin)")


class Policies:
    """The process's enforcer, its reloads and its LISTEN connection."""

    def __init__(self, engine: AsyncEngine, database_url: str) -> None:
        self.engine = engine
        self.dsn = asyncpg_dsn(database_url)
        self.enforcer = casbin.AsyncEnforcer(str(MODEL), PostgresAdapter(engine))
        self.reloads = 0
        self.lookups = 0  # grant lookups: one per request, whatever the response holds
        self._pending: asyncio.TimerHandle | None = None
        self._listener: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()
        self._interned: dict[frozenset[tuple[tuple[str, str], Grant]], dict[tuple[str, str], Grant]] = {}

    async def reload(self) -> None:
        async with self._reload_lock:
            await self.enforcer.load_policy()
            self._interned.clear()
            self.reloads += 1

    async def grants_for(self, user_id: int) -> dict[tuple[str, str], Grant]:
        """Every (resource, action) → the widest grant reaching the user directly or through roles."""
        self.lookups += 1
        found: dict[tuple[str, str], list[Grant]] = {}
        for rule in await self.rules_for(user_id):
            _, resource, action, scope, unassigned = rule
            found.setdefault((resource, action), []).append(Grant(scope, unassigned == "true"))
        widest_grants = {key: widest(grants) for key, grants in found.items()}
        # Users with the same grants share one dict (until the next reload): thousands of connections
        # held open by a few roles' members keep a few dicts, not thousands.
        return self._interned.setdefault(frozenset(widest_grants.items()), widest_grants)

    async def rules_for(self, user_id: int) -> list[list[str]]:
        """The policies reaching the user (subject, resource, action, scope, unassigned)."""
        subject = f"user:{user_id}"
        subjects = {subject, *await self.enforcer.get_implicit_roles_for_user(subject)}
        return [[*rule, "false"][:5] for rule in self.enforcer.get_policy() if rule and rule[0] in subjects]

    def rules_of_subject(self, subject: str) -> list[list[str]]:
        """The policies stored for exactly this subject (a role, or user:<id>)."""
        return [[*rule, "false"][:5] for rule in self.enforcer.get_policy() if rule and rule[0] == subject]

    async def roles_of(self, user_id: int) -> set[str]:
        return set(await self.enforcer.get_roles_for_user(f"user:{user_id}"))

    # Cross-replica sync

    async def start(self) -> None:
        await self.reload()
        self._listener = asyncio.create_task(self._listen(), name="pipecast policy listener")

    async def stop(self) -> None:
        if self._pending:
            self._pending.cancel()
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def _schedule_reload(self, *_: object) -> None:
        """Debounce: a burst of notifications makes one reload."""
        if self._pending is None or self._pending.cancelled():
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(DEBOUNCE_SECONDS, self._start_reload)

    def _start_reload(self) -> None:
        self._pending = None
        asyncio.get_running_loop().create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception:
            log.exception("policy reload failed; the next notification or reconnect retries")

    async def _listen(self) -> None:
        async def connected(alive_until: datetime | None) -> None:
            if alive_until is not None:
                await self.reload()  # notifications may have been missed while away

        await listen_forever(self.dsn, CHANNEL, self._schedule_reload, connected, name="policy listener")
