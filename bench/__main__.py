"""`python -m bench`: seed databases at three sizes, serve each with `pipecast serve`, drive it over HTTP.

Reports per workload, size and concurrency: requests per second, p50/p95/p99 latency, SQL statements per
request (the server's X-Pipecast-Statements header), the read path (compiled or executed), the response's
bytes and server memory (RSS per worker); for the dashboard and the forecast table also the hand-written
SQL floor through asyncpg and the ratio to it. With --peer, also PostGraphile v5 (bench/peer, installed
with npm on first use; it needs only npm on PATH) on the same database and the same dashboard shape, beside
one and then two Pipecast workers, with the ratio of requests per second.
PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else an embedded server in a temporary folder.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.live import DEALS_WRITTEN, describe, run_live
from bench.measure import rss
from bench.workloads import (
    DASHBOARD,
    DASHBOARD_FLOOR,
    FORECAST,
    FORECAST_FLOOR,
    FORECAST_PREDICTED,
    HOME,
    PEER_PIPECAST,
    PEER_POSTGRAPHILE,
    SUBMIT,
    TREND,
    UPDATE_DEAL,
    WATERFALL,
    quarter,
)
from db import embedded, history, rollups, stage_rollups
from db.engine import asyncpg_dsn
from pipecast.auth import issue_token

PIPECAST = shutil.which("pipecast", path=str(Path(sys.executable).parent)) or "pipecast"
PEER = Path(__file__).resolve().parent / "peer"

Send = Callable[[], Awaitable["Answer"]]


@dataclass
class Answer:
    statements: int | None
    read_path: str | None
    size: int


@dataclass
class Result:
    workload: str
    deals: int
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statements: float | None
    rss_mb: float | None
    floor_p50_ms: float | None = None
    ratio: float | None = None
    read_path: str | None = None
    bytes: int | None = None
    server: str = "pipecast"
    live: dict[str, Any] | None = None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(send: Send, concurrency: int, seconds: float) -> tuple[list[float], list[Answer]]:
    """Run `send` from `concurrency` loops for `seconds`; latencies (ms) and what came back."""
    latencies: list[float] = []
    answers: list[Answer] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            answers.append(await send())
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies, answers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _database(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def _on_server(server: str, *statements: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(server))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _run(env: dict[str, str], *args: str) -> None:
    subprocess.run([PIPECAST, *args], env=env, check=True, stdout=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def _serving(
    command: list[str], env: dict[str, str], ready: str, cwd: Path | None = None, *, post: bool = False
) -> AsyncIterator[int]:
    """A server process until the block ends; yields its pid once `ready` answers (GET, or a POSTed
    `{ __typename }`)."""
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await _ready(ready, process, post=post)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.asynccontextmanager
async def _pipecast(env: dict[str, str], workers: int) -> AsyncIterator[tuple[str, int]]:
    port = _free_port()
    command = [PIPECAST, "serve", "--port", str(port), "--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    async with _serving(command, env, f"{base}/readyz") as pid:
        yield base, pid


@contextlib.asynccontextmanager
async def _postgraphile(url: str) -> AsyncIterator[tuple[str, int]]:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("--peer needs npm on PATH (it installs PostGraphile v5 and Node 22 into bench/peer)")
    if not (PEER / "node_modules" / ".bin" / "postgraphile").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER, check=True, timeout=600
        )
    port = _free_port()
    bin_dir = PEER / "node_modules" / ".bin"
    command = [str(bin_dir / "node"), str(bin_dir / "postgraphile"), "-C", "graphile.config.mjs"]
    env = os.environ | {"DATABASE_URL": asyncpg_dsn(url), "PORT": str(port), "GRAPHILE_ENV": "production"}
    base = f"http://127.0.0.1:{port}"
    async with _serving(command, env, f"{base}/graphql", cwd=PEER, post=True) as pid:
        yield base, pid


def _client(concurrency: int, base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=concurrency + 4), timeout=120)


def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None) -> Send:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def send() -> Answer:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        if response.status_code != 200 or b'"errors"' in response.content:
            raise RuntimeError(f"the benchmark request failed: {response.text[:300]}")
        count = response.headers.get("x-pipecast-statements")
        return Answer(
            int(count) if count else None, response.headers.get("x-pipecast-read-path"), len(response.content)
        )

    return send


async def measure(
    workload: str,
    deals: int,
    concurrency: int,
    send: Send,
    args: argparse.Namespace,
    pid: int,
    server: str = "pipecast",
) -> Result:
    await drive(send, concurrency, args.warmup)
    latencies, answers = await drive(send, concurrency, args.duration)
    counts = [a.statements for a in answers if a.statements is not None]
    paths = sorted({a.read_path for a in answers if a.read_path})
    result = Result(
        workload,
        deals,
        concurrency,
        len(latencies),
        len(latencies) / args.duration,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.95),
        _percentile(latencies, 0.99),
        statistics.mean(counts) if counts else None,
        rss(pid),
        read_path="/".join(paths) or None,
        bytes=answers[-1].size if answers else None,
        server=server,
    )
    print(_line(result), file=sys.stderr)
    return result


async def _people(url: str) -> tuple[dict[str, int], int, int, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    people = {
        row["role"]: row["id"]
        for row in await conn.fetch(
            """SELECT DISTINCT ON (role) role, id FROM (
                 SELECT 'admin' AS role, id FROM users WHERE email = 'admin@example.com'
                 UNION ALL SELECT 'manager', u.id FROM users u JOIN team_memberships m ON m.user_id = u.id
                   JOIN teams t ON t.id = m.team_id WHERE m.role = 'MANAGER' AND t.parent_id IS NOT NULL
                 UNION ALL SELECT 'rep', u.id FROM users u JOIN team_memberships m ON m.user_id = u.id AND m.is_primary
                   WHERE m.role = 'MEMBER' AND u.sales_seat) x ORDER BY role, id"""
        )
    }
    pipeline = await conn.fetchval("SELECT id FROM pipelines ORDER BY id LIMIT 1")
    root = await conn.fetchval("SELECT id FROM teams WHERE parent_id IS NULL ORDER BY id LIMIT 1")
    region = await conn.fetchval("SELECT id FROM teams WHERE parent_id = $1 ORDER BY id LIMIT 1", root)
    await conn.close()
    return people, pipeline, root, region


async def bench_size(server: str, deals: int, args: argparse.Namespace) -> list[Result]:
    name = f"pipecast_bench_{deals}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    await _on_server(server, drop, f'CREATE DATABASE "{name}"')
    url = _database(server, name)
    secret = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPECAST_")} | {
        "DATABASE_URL": url,
        "PIPECAST_JWT_SECRET": secret,
        "PIPECAST_REPORT_STATEMENTS": "true",
    }
    started = time.perf_counter()
    _run(env, "migrate")
    _run(env, "seed", "--teams", str(args.teams), "--users", str(args.users), "--deals", str(deals))
    print(f"[{deals} deals] seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    people, pipeline, root, region = await _people(url)
    tokens = {role: issue_token(user_id, secret, 3600) for role, user_id in people.items()}
    results: list[Result] = []
    try:
        async with _pipecast(env, args.workers) as (base, pid):
            if not args.live_only:
                results += await _workloads(
                    base, pid, url, deals, tokens, people, (pipeline, root, region), args
                )
            if args.live_subscribers:
                results.append(await _live(env, url, base, deals, secret, tokens["admin"], args))
        if args.peer and not args.live_only:
            results += await _peer(env, url, deals, tokens["admin"], args)
    finally:
        await _on_server(server, drop)  # a 1M-deal database is gigabytes: leave nothing behind
    return results


async def _workloads(
    base: str,
    pid: int,
    url: str,
    deals: int,
    tokens: dict[str, str],
    people: dict[str, int],
    keys: tuple[int, int, int],
    args: argparse.Namespace,
) -> list[Result]:
    from strawberry.relay import to_base64  # noqa: PLC0415

    pipeline, root, region = keys
    period = quarter()
    pipeline_id, root_id = to_base64("Pipeline", pipeline), to_base64("Team", root)
    now = datetime.now(UTC)
    week = {"from": (now - timedelta(days=7)).isoformat(), "to": now.isoformat()}
    results: list[Result] = []
    async with _client(max(args.concurrency), base) as client:
        dashboard = graphql(client, DASHBOARD, {"period": period.key}, tokens["manager"])
        dashboard_admin = graphql(client, DASHBOARD, {"period": period.key}, tokens["admin"])
        table = {"p": pipeline_id, "period": period.key, "t": root_id}
        forecast = graphql(client, FORECAST, table, tokens["admin"])
        predicted = graphql(client, FORECAST_PREDICTED, table, tokens["admin"])
        home = graphql(client, HOME, {"p": pipeline_id, "period": period.key}, tokens["rep"])
        region_subject = {"teamId": to_base64("Team", region)}
        waterfall = graphql(
            client,
            WATERFALL,
            {"s": region_subject, "p": pipeline_id, "period": period.key} | week,
            tokens["admin"],
        )
        trend = graphql(
            client, TREND, {"s": {"teamId": root_id}, "p": pipeline_id, "period": period.key}, tokens["admin"]
        )
        rep_id = to_base64("User", people["rep"])
        submit_n = iter(range(10**9))

        async def submit() -> Answer:
            n = next(submit_n)
            variables = {
                "i": {
                    "subject": {"userId": rep_id},
                    "pipelineId": pipeline_id,
                    "period": period.key,
                    "amount": f"{1000 + n % 500}.00",
                    "idempotencyKey": f"bench-{deals}-{n}",
                }
            }
            return await graphql(client, SUBMIT, variables, tokens["rep"])()

        deal_ids = [to_base64("Deal", key) for key in await _sample_deals(url, 2000)]
        update_n = iter(range(10**9))

        async def update() -> Answer:
            n = next(update_n)
            variables = {"i": {"id": deal_ids[n % len(deal_ids)], "amount": f"{100 + n % 900}.{n % 100:02d}"}}
            return await graphql(client, UPDATE_DEAL, variables, tokens["admin"])()

        reads = [dashboard, forecast, home]
        turn = iter(range(10**9))

        async def mixed() -> Answer:
            n = next(turn)
            return await (submit() if random.random() < 0.1 else reads[n % len(reads)]())

        workloads: dict[str, Send] = {
            "a dashboard": dashboard,
            "a2 dashboard ALL": dashboard_admin,
            "b forecast": forecast,
            "b2 forecast with predictions": predicted,
            "c mobile home": home,
            "d mixed": mixed,
            "e update deal": update,
            "f waterfall": waterfall,
            "g trend": trend,
        }
        floor_pool = await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=1, max_size=max(args.concurrency), server_settings={"jit": "off"}
        )
        start, end = period.start(), period.end()
        floors = {
            "a dashboard": lambda: floor_pool.fetchval(DASHBOARD_FLOOR, start, end, people["manager"]),
            "b forecast": lambda: floor_pool.fetchval(FORECAST_FLOOR, pipeline, 3, start, root, period.key),
        }
        for workload, send in workloads.items():
            # The history reads are an analyst's occasional question, with targets at concurrency 1.
            levels = args.concurrency[:1] if workload in HISTORY_WORKLOADS else args.concurrency
            for concurrency in levels:
                result = await measure(workload, deals, concurrency, send, args, pid)
                if workload in floors:
                    floor = floors[workload]

                    async def floor_send(query: Callable[[], Awaitable[Any]] = floor) -> Answer:
                        await query()
                        return Answer(None, None, 0)

                    await drive(floor_send, concurrency, args.warmup)
                    floor_latencies, _ = await drive(floor_send, concurrency, args.duration)
                    result.floor_p50_ms = _percentile(floor_latencies, 0.5)
                    result.ratio = result.p50_ms / result.floor_p50_ms
                results.append(result)
        # What the managers' adjustments cost the table: the same reads with the adjustments set aside.
        async with _adjustments_set_aside(url):
            for concurrency in args.concurrency:
                results.append(
                    await measure("b forecast", deals, concurrency, forecast, args, pid, "no adjustments")
                )
        # What recording history costs a write: the same updates without the versions trigger (the
        # versions then rebuilt from the recorded changes).
        await _versions_trigger(url, enabled=False)
        try:
            for concurrency in args.concurrency:
                results.append(
                    await measure("e update deal", deals, concurrency, update, args, pid, "no history")
                )
        finally:
            await _versions_trigger(url, enabled=True)
        # What the rollups cost a write: the same updates with their triggers off (then rebuilt).
        await _rollup_triggers(url, enabled=False)
        try:
            for concurrency in args.concurrency:
                result = await measure("e update deal", deals, concurrency, update, args, pid, "no rollups")
                results.append(result)
        finally:
            await _rollup_triggers(url, enabled=True)
        await floor_pool.close()
    return results


HISTORY_WORKLOADS = ("f waterfall", "g trend")


async def _live(
    env: dict[str, str], url: str, writer: str, deals: int, secret: str, admin: str, args: argparse.Namespace
) -> Result:
    """Workload h (bench/live.py): subscribers on a one-worker server, writes through the main one."""
    from strawberry.relay import to_base64  # noqa: PLC0415

    conn = await asyncpg.connect(asyncpg_dsn(url))
    users = [row["id"] for row in await conn.fetch("SELECT id FROM users WHERE active ORDER BY id")]
    await conn.close()
    tokens = [issue_token(users[n % len(users)], secret, 3600) for n in range(args.live_subscribers)]
    deal_ids = [to_base64("Deal", key) for key in await _sample_deals(url, DEALS_WRITTEN)]
    async with _pipecast(env, 1) as (base, pid):
        figures = await run_live(base, pid, writer, admin, tokens, deal_ids, args.duration)
    latencies = figures.latencies_ms or [float("inf")]
    result = Result(
        "h live",
        deals,
        figures.subscribers,
        figures.delivered,
        figures.delivered / args.duration,
        _percentile(latencies, 0.5),
        _percentile(latencies, 0.95),
        _percentile(latencies, 0.99),
        None,
        figures.rss_mb,
        read_path="ws",
        live=describe(figures),
    )
    print(_line(result), result.live, file=sys.stderr)
    return result


async def _sample_deals(url: str, count: int) -> list[int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return [
            row["id"] for row in await conn.fetch("SELECT id FROM deals ORDER BY random() LIMIT $1", count)
        ]
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _adjustments_set_aside(url: str) -> AsyncIterator[None]:
    """The forecast adjustments moved out of the table for a while, then put back."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute("CREATE TABLE bench_adjustments AS SELECT * FROM forecast_adjustments")
            await conn.execute("DELETE FROM forecast_adjustments")
        await conn.execute("ANALYZE forecast_adjustments")
        yield
    finally:
        async with conn.transaction():
            await conn.execute("INSERT INTO forecast_adjustments SELECT * FROM bench_adjustments")
            await conn.execute("DROP TABLE bench_adjustments")
        await conn.close()


async def _versions_trigger(url: str, *, enabled: bool) -> None:
    """Switch the deal versions' update trigger off, or back on with the versions rebuilt."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if enabled:
            async with conn.transaction():
                await conn.execute("ALTER TABLE deals ENABLE TRIGGER versions_update")
                await conn.execute("TRUNCATE deal_versions")
                await conn.execute(history.backfill_statement())
        else:
            await conn.execute("ALTER TABLE deals DISABLE TRIGGER versions_update")
    finally:
        await conn.close()


async def _rollup_triggers(url: str, *, enabled: bool) -> None:
    """Switch the rollup triggers off, or back on with the rollups recomputed from the deals."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if enabled:
            async with conn.transaction():
                await conn.execute("ALTER TABLE deals ENABLE TRIGGER USER")
                await conn.execute("TRUNCATE deal_rollups, stage_rollups")
                await conn.execute(rollups.backfill_statement())
                await conn.execute(stage_rollups.backfill_statement())
        else:
            await conn.execute("ALTER TABLE deals DISABLE TRIGGER USER")
    finally:
        await conn.close()


async def _peer(
    env: dict[str, str], url: str, deals: int, admin: str, args: argparse.Namespace
) -> list[Result]:
    """The dashboard shape on PostGraphile v5 and on one, then `--workers`, Pipecast workers."""
    results: list[Result] = []
    peer_rps: dict[int, float] = {}
    async with _postgraphile(url) as (base, pid):
        for concurrency in args.peer_concurrency:
            async with _client(concurrency, base) as client:
                send = graphql(client, PEER_POSTGRAPHILE, {}, None)
                result = await measure("p dashboard", deals, concurrency, send, args, pid, "postgraphile")
            peer_rps[concurrency] = result.rps
            results.append(result)
    for workers in sorted({1, args.workers}):
        async with _pipecast(env, workers) as (base, pid):
            for concurrency in args.peer_concurrency:
                async with _client(concurrency, base) as client:
                    send = graphql(client, PEER_PIPECAST, {}, admin)
                    result = await measure(
                        "p dashboard", deals, concurrency, send, args, pid, f"pipecast w{workers}"
                    )
                result.ratio = result.rps / peer_rps[concurrency]  # requests per second, Pipecast ÷ peer
                results.append(result)
    return results


async def _ready(url: str, process: subprocess.Popen[bytes], *, post: bool = False) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
            with contextlib.suppress(httpx.TransportError):
                answer = await (
                    client.post(url, json={"query": "{ __typename }"}) if post else client.get(url)
                )
                if answer.status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready")


HEADER = (
    f"{'workload':<17} {'server':<13} {'deals':>8} {'conc':>4} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
    f"{'p99 ms':>8} {'stmts':>5} {'path':>8} {'KB':>5} {'RSS MB':>6} {'floor p50':>9} {'ratio':>5}"
)


def _line(r: Result) -> str:
    floor = f"{r.floor_p50_ms:9.1f}" if r.floor_p50_ms is not None else f"{'':>9}"
    ratio = f"{r.ratio:5.2f}" if r.ratio is not None else f"{'':>5}"
    statements = f"{r.statements:5.1f}" if r.statements is not None else f"{'':>5}"
    rss = f"{r.rss_mb:6.0f}" if r.rss_mb is not None else f"{'':>6}"
    size = f"{r.bytes / 1000:5.0f}" if r.bytes is not None else f"{'':>5}"
    path = (r.read_path or "")[:8]
    return (
        f"{r.workload:<17} {r.server:<13} {r.deals:>8} {r.concurrency:>4} {r.rps:7.1f} {r.p50_ms:8.1f} "
        f"{r.p95_ms:8.1f} {r.p99_ms:8.1f} {statements} {path:>8} {size} {rss} {floor} {ratio}"
    )


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _results(results: list[Result]) -> Iterator[str]:
    yield HEADER
    yield from (_line(result) for result in results)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_ints, default=[10_000, 100_000, 1_000_000], help="deal counts")
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument("--peer", action="store_true", help="also measure PostGraphile v5 (needs npm)")
    parser.add_argument("--peer-concurrency", type=_ints, default=[1, 16])
    parser.add_argument(
        "--live-subscribers", type=int, default=1000, help="WebSocket subscribers of workload h (0: none)"
    )
    parser.add_argument("--live-only", action="store_true", help="only workload h (live updates)")
    parser.add_argument(
        "--json", type=Path, default=Path("bench/results.json"), help="where to write the results"
    )
    args = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    scratch = None
    if not server:
        scratch = tempfile.mkdtemp(prefix="pipecast-bench-")
        server = embedded.start(Path(scratch) / "pg")
    results: list[Result] = []
    for size in args.sizes:
        results += await bench_size(server, size, args)
    print("\n".join(_results(results)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
