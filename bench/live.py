"""Workload h, live updates: many WebSocket subscribers on one server process, deals written through another.

SUBSCRIBERS distinct users (as many as the company has, then again from the first) each open a WebSocket
to a one-worker `pipecast serve` and subscribe to dealChanged without a filter. Before the writes, each
asks over HTTP which of the written deals it may see (so the expected deliveries are known from the API
itself). Then deals are updated through the other server (the main one) at WRITES_PER_SECOND for the
run's duration, each write tagged in nextStep; every event's latency is from just before the write was
sent to its arrival at a subscriber. Reported: deliveries per second, p50/p95/p99 of the latency over all
expected deliveries (a missing one counts as infinitely late), the share delivered, and the live server's
resident memory per idle subscriber (RSS with every subscriber connected and subscribed, less RSS
before, divided by their number).
"""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from bench.measure import rss

WRITES_PER_SECOND = 4
DEALS_WRITTEN = 15  # random deals, written in turn; who sees which is asked in one query (15 aliases at most)
SUBSCRIPTION = "subscription { dealChanged { kind dealId deal { id name amount nextStep stage { label } owner { name } } } }"
UPDATE = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id } }"
PROTOCOL = Subprotocol("graphql-transport-ws")
DRAIN_SECONDS = 10.0


@dataclass
class Subscriber:
    token: str
    visible: set[str] = field(default_factory=set)
    arrivals: dict[str, float] = field(default_factory=dict)  # write tag → arrival time


@dataclass
class LiveFigures:
    subscribers: int
    writes: int
    expected: int
    delivered: int
    latencies_ms: list[float]
    idle_kb: float | None
    rss_mb: float | None


async def _visible(base: str, subscribers: list[Subscriber], deal_ids: list[str]) -> None:
    """Which of the written deals each subscriber may see, asked of the API (node is null when hidden)."""
    aliases = " ".join(f'd{n}: node(id: "{deal}") {{ id }}' for n, deal in enumerate(deal_ids))
    query = f"{{ {aliases} }}"
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def ask(subscriber: Subscriber) -> None:
            async with gate:
                answer = await client.post(
                    "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {subscriber.token}"}
                )
            data = answer.json().get("data")
            if data is None:
                raise RuntimeError(f"a subscriber could not ask what it sees: {answer.text[:300]}")
            subscriber.visible = {node["id"] for node in data.values() if node}

        await asyncio.gather(*(ask(s) for s in subscribers))


@contextlib.asynccontextmanager
async def _subscribed(base: str, subscriber: Subscriber, sent: dict[str, float]) -> AsyncIterator[None]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[PROTOCOL], open_timeout=60, max_queue=None) as socket:
        await socket.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {subscriber.token}"}}
            )
        )
        ack = json.loads(await socket.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"the live server refused a subscriber: {ack}")
        await socket.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}}))

        async def read() -> None:
            async for raw in socket:
                message = json.loads(raw)
                if message.get("type") != "next":
                    raise RuntimeError(f"a subscriber got {str(message)[:300]}")
                event = message["payload"]["data"]["dealChanged"]
                tag = (event.get("deal") or {}).get("nextStep") or ""
                if tag in sent:
                    subscriber.arrivals.setdefault(tag, time.perf_counter())

        reader = asyncio.create_task(read())
        try:
            yield
        finally:
            reader.cancel()


async def run_live(
    live_base: str,
    live_pid: int,
    write_base: str,
    admin_token: str,
    tokens: list[str],
    deal_ids: list[str],
    seconds: float,
) -> LiveFigures:
    subscribers = [Subscriber(token) for token in tokens]
    await _visible(write_base, subscribers, deal_ids)
    rss_before = rss(live_pid)
    sent: dict[str, float] = {}
    async with contextlib.AsyncExitStack() as stack:
        for start in range(0, len(subscribers), 100):  # connections opened a hundred at a time
            await asyncio.gather(
                *(
                    stack.enter_async_context(_subscribed(live_base, s, sent))
                    for s in subscribers[start : start + 100]
                )
            )
        await asyncio.sleep(2)  # idle, subscribed
        rss_idle = rss(live_pid)
        writes: list[tuple[str, str]] = []
        async with httpx.AsyncClient(base_url=write_base, timeout=60) as client:
            deadline = time.perf_counter() + seconds
            n = 0
            while time.perf_counter() < deadline:
                deal = deal_ids[n % len(deal_ids)]
                tag = f"live-{n}-{time.time_ns()}"
                sent[tag] = time.perf_counter()
                answer = await client.post(
                    "/graphql",
                    json={"query": UPDATE, "variables": {"i": {"id": deal, "nextStep": tag}}},
                    headers={"Authorization": f"Bearer {admin_token}"},
                )
                if answer.status_code != 200 or b'"errors"' in answer.content:
                    raise RuntimeError(f"a live benchmark write failed: {answer.text[:300]}")
                writes.append((tag, deal))
                n += 1
                await asyncio.sleep(max(0.0, sent[tag] + 1 / WRITES_PER_SECOND - time.perf_counter()))
        expected = [(s, tag) for tag, deal in writes for s in subscribers if deal in s.visible]
        drain = time.perf_counter() + DRAIN_SECONDS
        while time.perf_counter() < drain and any(tag not in s.arrivals for s, tag in expected):  # noqa: ASYNC110  (a poll over every subscriber)
            await asyncio.sleep(0.1)
        rss_after = rss(live_pid)
    latencies = [
        (s.arrivals[tag] - sent[tag]) * 1000 if tag in s.arrivals else float("inf") for s, tag in expected
    ]
    idle_kb = (rss_idle - rss_before) * 1024 / len(subscribers) if rss_idle and rss_before else None
    return LiveFigures(
        len(subscribers),
        len(writes),
        len(expected),
        sum(1 for value in latencies if value != float("inf")),
        latencies,
        idle_kb,
        rss_after,
    )


def describe(figures: LiveFigures) -> dict[str, Any]:
    return {
        "subscribers": figures.subscribers,
        "writes": figures.writes,
        "expected deliveries": figures.expected,
        "delivered": figures.delivered,
        "idle KB per subscriber": round(figures.idle_kb, 1) if figures.idle_kb is not None else None,
    }
