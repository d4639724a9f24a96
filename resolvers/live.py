"""Live updates (docs/live.md): the process's hub between PostgreSQL's notifications and its subscribers.

One LISTEN connection per process (db.listen) receives the IDs the triggers of db.live send, whichever
process wrote. Notifications are taken in small batches, one at a time; for deal events, a batch's deals
are read once per distinct filter among the subscriptions and each subscriber's deal:view, as it stands
now, is applied to their owners (a connection's access is read again after any write to users, teams,
memberships, roles or policies). Forecast subscriptions are only marked stale: each recomputes its table
itself, at most once a second. What waits for a subscriber is bounded: one that does not read its events
loses its subscription, not the server its memory.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.websockets import WebSocket

from authz.access import Access
from authz.policies import Policies
from db import live
from db.deals import DealFilter, DealRecord, deals_matching
from db.listen import listen_forever
from resolvers.context import Context, Loaders
from resolvers.errors import LimitExceeded

log = logging.getLogger("pipecast.live")

BATCH_SECONDS = 0.02  # notifications arriving this close together are handled together
SHOWN_DEALS = 5_000  # per deal subscription: the deals it was sent, for HIDDEN (oldest forgotten first)
FORECAST_INTERVAL = 1.0  # seconds between two events of one forecast subscription
TABLES_AT_ONCE = 4  # forecast tables a process recomputes for its subscribers at the same time
RECOVERY_MARGIN = timedelta(seconds=10)  # deals changed this long before a loss are sent again (clock skew)


class SlowConsumer(Exception):
    """More deals' events waited for the subscriber than its limit."""


@dataclass(frozen=True, slots=True)
class DealNotice:
    kind: str  # CREATED, UPDATED or HIDDEN
    deal_id: int
    deal: DealRecord | None
    at: datetime
    loaders: Loaders  # the batch's record loaders (Loaders.records_of)


class Session:
    """One WebSocket connection's viewer: what the hub needs to decide what it may see."""

    def __init__(self, viewer_id: int, refresh: Callable[[], Awaitable[bool]]) -> None:
        self.viewer_id = viewer_id
        self.generation = -1  # the hub's access generation this session's access was read at
        self._refresh = refresh
        self._lock = asyncio.Lock()

    async def current(self, generation: int) -> bool:
        """Reads the viewer's access again if it may have changed; False when the viewer is gone."""
        async with self._lock:
            if self.generation == generation:
                return True
            try:
                alive = await self._refresh()
            except Exception:  # the database, most likely: the next event tries again
                log.warning("live: user %d's access could not be read again", self.viewer_id, exc_info=True)
                return False
            self.generation = generation
            return alive


class Signal:
    """An asyncio.Event for one waiter that holds no waiter queue until it is waited for: a thousand idle
    subscriptions each keep one."""

    __slots__ = ("_is_set", "_waiter")

    def __init__(self) -> None:
        self._is_set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._is_set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> None:
        if self._is_set:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


@dataclass(eq=False)
class DealSubscription:
    """A dealChanged subscription: its filter, the deals it was sent (for HIDDEN) and the events waiting
    to be sent, one per deal (a deal's later event replaces its earlier one: the latest state wins)."""

    session: Session
    where: DealFilter
    context: Context  # its connection's: the access in it is the viewer's as of the session's refresh
    limit: int  # events waiting, at most: beyond, the subscriber is too slow and the subscription ends
    waiting: OrderedDict[int, DealNotice] = field(default_factory=OrderedDict)
    ready: Signal = field(default_factory=Signal)
    shown: OrderedDict[int, None] = field(default_factory=OrderedDict)
    overflowed: bool = False

    def offer(self, notice: DealNotice) -> None:
        if self.overflowed:
            return
        if notice.kind == "HIDDEN":
            self.shown.pop(notice.deal_id, None)
        else:
            self.shown[notice.deal_id] = None
            self.shown.move_to_end(notice.deal_id)
            if len(self.shown) > SHOWN_DEALS:
                self.shown.popitem(last=False)
        earlier = self.waiting.pop(notice.deal_id, None)
        if earlier is not None and earlier.kind == "CREATED" and notice.kind == "UPDATED":
            notice = DealNotice("CREATED", notice.deal_id, notice.deal, notice.at, notice.loaders)
        self.waiting[notice.deal_id] = notice
        if len(self.waiting) > self.limit:
            self.overflowed = True
            self.waiting.clear()  # what it held is freed; the subscription ends with an error
        self.ready.set()

    async def next(self) -> DealNotice:
        while not self.waiting:
            if self.overflowed:
                raise SlowConsumer
            self.ready.clear()
            await self.ready.wait()
        _, notice = self.waiting.popitem(last=False)
        return notice


@dataclass(eq=False)
class ForecastSubscription:
    session: Session
    pipeline_id: int
    stale: Signal = field(default_factory=Signal)
    sent_at: float = 0.0

    def sent(self) -> None:
        self.sent_at = time.monotonic()

    async def wait(self) -> None:
        """Until something may have changed the table, and at least FORECAST_INTERVAL since the last one."""
        await self.stale.wait()
        delay = self.sent_at + FORECAST_INTERVAL - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # what arrives meanwhile is in the one table sent next
        self.stale.clear()
        self.sent()


@dataclass
class _Batch:
    kinds: dict[int, str] = field(default_factory=dict)  # deal id → first kind seen (c wins over u)
    pipelines: set[int] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)
    everything: bool = False  # after a lost connection: every forecast is stale

    def add(self, note: dict[str, Any]) -> None:
        if "t" in note:
            self.tables.add(str(note["t"]))
            return
        kind = str(note.get("k", ""))
        self.pipelines.update(int(p) for p in note.get("p") or ())
        if kind == "bulk":
            return
        for deal_id in note.get("d") or ():
            self.kinds.setdefault(int(deal_id), kind)


class Hub:
    """The process's live updates: its LISTEN connection, its subscriptions, their access generation."""

    def __init__(
        self, engine: AsyncEngine, policies: Policies, dsn: str, *, per_user: int, waiting: int
    ) -> None:
        self.engine = engine
        self.policies = policies
        self.dsn = dsn
        self.per_user = per_user
        self.waiting = waiting  # a deal subscription's limit (DealSubscription.limit)
        self.generation = 0
        self.deals: set[DealSubscription] = set()
        self.forecasts: set[ForecastSubscription] = set()
        self.users: Counter[int] = Counter()
        self._batch: _Batch | None = None
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._handling = asyncio.Lock()
        self._reaches: dict[frozenset[int], frozenset[int]] = {}
        # Forecast tables recomputed at once: under a stream of writes, stale subscriptions wait their
        # turn (their events come later than a second) instead of taking every connection of the pool.
        self.tables = asyncio.Semaphore(TABLES_AT_ONCE)

    # Life cycle

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="pipecast live listener")

    async def stop(self) -> None:
        for task in [self._listener, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _listen(self) -> None:
        await listen_forever(self.dsn, live.CHANNEL, self._notified, self._connected, name="live listener")

    async def _connected(self, alive_until: datetime | None) -> None:
        """After a lost connection: the deals changed since (a margin before) it was last known alive are
        handled as if notified, and every forecast and every viewer's access is read again."""
        if alive_until is None:
            return
        async with self.engine.connect() as conn:
            deal_ids, pipelines = await live.changed_since(conn, alive_until - RECOVERY_MARGIN)
        log.info("live listener back: %d deals changed while it was away", len(deal_ids))
        batch = self._pending()
        batch.everything = True
        batch.tables.update(live.ACCESS_TABLES)
        batch.pipelines.update(pipelines)
        for deal_id in deal_ids:
            batch.kinds.setdefault(deal_id, "u")

    # Subscriptions

    def shared(self, access: Access) -> Access:
        """The access with its team reach shared with every connection that has the same one (a team's
        members): thousands of idle connections keep a few sets, not thousands."""
        if len(self._reaches) > 10_000:
            self._reaches.clear()
        reach = self._reaches.setdefault(access.team_reach, access.team_reach)
        return access if reach is access.team_reach else replace(access, team_reach=reach, _memo={})

    def add(self, subscription: DealSubscription | ForecastSubscription) -> None:
        viewer = subscription.session.viewer_id
        if self.users[viewer] >= self.per_user:
            raise LimitExceeded(f"at most {self.per_user} subscriptions per user on one server process")
        self.users[viewer] += 1
        if isinstance(subscription, DealSubscription):
            self.deals.add(subscription)
        else:
            self.forecasts.add(subscription)

    def remove(self, subscription: DealSubscription | ForecastSubscription) -> None:
        viewer = subscription.session.viewer_id
        self.users[viewer] -= 1
        if self.users[viewer] <= 0:
            del self.users[viewer]
        if isinstance(subscription, DealSubscription):
            self.deals.discard(subscription)
        else:
            self.forecasts.discard(subscription)

    # Notifications

    def _notified(self, payload: str) -> None:
        try:
            note = json.loads(payload)
        except ValueError:
            log.warning("live notification is not JSON: %.80s", payload)
            return
        if isinstance(note, dict):
            self._pending().add(note)

    def _pending(self) -> _Batch:
        if self._batch is None:
            self._batch = _Batch()
            task = asyncio.get_running_loop().create_task(self._handle_soon())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self._batch

    async def _handle_soon(self) -> None:
        """One batch at a time, in order: what arrives while one is handled waits for the next."""
        await asyncio.sleep(BATCH_SECONDS)
        async with self._handling:
            batch, self._batch = self._batch, None
            if batch is None:
                return
            try:
                await self._handle(batch)
            except Exception:
                log.exception("live notifications could not be handled")

    async def _handle(self, batch: _Batch) -> None:
        if batch.tables & live.ACCESS_TABLES:
            if batch.tables & live.POLICY_TABLES:
                await self.policies.reload()  # not waiting for its own listener's (debounced) reload
            self.generation += 1
        for subscription in self.forecasts:
            if batch.everything or batch.tables or subscription.pipeline_id in batch.pipelines:
                subscription.stale.set()
        if batch.kinds and self.deals:
            await self._deal_events(batch.kinds)

    async def _deal_events(self, kinds: dict[int, str]) -> None:
        """Each subscriber's events for these deals, with its access as it stands (read again first
        where it may have changed)."""
        at = datetime.now(UTC)
        subscriptions = list(self.deals)
        stale = list({s.session for s in subscriptions if s.session.generation != self.generation})
        refreshed = await asyncio.gather(*(s.current(self.generation) for s in stale))
        gone = {session for session, alive in zip(stale, refreshed, strict=True) if not alive}
        # One statement per filter (most subscriptions have none): the deals of the batch that match it,
        # whoever looks; then each subscriber's deal:view, evaluated on the owners in Python.
        by_filter: dict[DealFilter, list[DealSubscription]] = {}
        for subscription in subscriptions:
            if subscription.session not in gone:
                by_filter.setdefault(subscription.where, []).append(subscription)
        loaders = Loaders(self.engine)  # shared by this batch's events: records, not what a viewer sees
        ids = sorted(kinds)
        async with self.engine.connect() as conn:
            for where, members in by_filter.items():
                found = await deals_matching(conn, ids, where, None)
                for subscription in members:
                    access = subscription.context.access
                    for deal_id in ids:
                        record = found.get(deal_id)
                        if record is not None and access.reaches("deal", "view", record.owner_id):
                            kind = "CREATED" if kinds[deal_id] == "c" else "UPDATED"
                            subscription.offer(DealNotice(kind, deal_id, record, at, loaders))
                        elif deal_id in subscription.shown:
                            subscription.offer(DealNotice("HIDDEN", deal_id, None, at, loaders))


Subscription = DealSubscription | ForecastSubscription
EXPIRED = 4403  # graphql-transport-ws's Forbidden: the token has expired or the viewer was deactivated


class Connection:
    """One WebSocket connection's live state: its viewer's session, its subscriptions, its end."""

    def __init__(self, hub: Hub, session: Session, websocket: WebSocket, *, per_connection: int) -> None:
        self.hub, self.session, self.websocket = hub, session, websocket
        self.per_connection = per_connection
        self.subscriptions = 0
        self._expiry: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def admitted(self, subscription: Subscription) -> Iterator[None]:
        """The subscription registered with the hub while the block runs, within the limits."""
        if self.subscriptions >= self.per_connection:
            raise LimitExceeded(f"at most {self.per_connection} subscriptions per connection")
        self.hub.add(subscription)
        self.subscriptions += 1
        try:
            yield
        finally:
            self.subscriptions -= 1
            self.hub.remove(subscription)

    async def current(self) -> bool:
        """The viewer's access as in force now; False (and the connection closing) when they are gone."""
        return await self.session.current(self.hub.generation)

    def fresh(self, context: Context, shared: Loaders | None = None) -> None:
        """Loaders of their own for an event's fields (nothing cached from an earlier event), and empty
        ones between events (an idle connection keeps nothing they cached). The subscribers of one batch
        of deal events share its record loaders (users, teams, stages… as stored: what a viewer may see
        of them is decided by the resolvers), so that the batch's owners are read once for all of them."""
        context.loaders = Loaders(self.hub.engine) if shared is None else shared.records_of()

    def expires_at(self, moment: float) -> None:
        """Close the connection when its token expires (seconds since the epoch)."""
        delay = max(0.0, moment - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self.close, "the token has expired")

    def close(self, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close(reason))

    async def _close(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code=EXPIRED, reason=reason)

    def ended(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
