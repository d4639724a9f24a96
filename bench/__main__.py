"""`python -m bench`: seed databases at three sizes, serve each with `pipecast serve`, drive it over HTTP.

Reports per workload, size and concurrency: requests per second, p50/p95/p99 latency, SQL statements per
request (the server's X-Pipecast-Statements header) and server memory (RSS per worker); for the dashboard
and the forecast table also the hand-written SQL floor through asyncpg and the ratio to it.
PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else an embedded server in a temporary folder.
"""

import argparse
import asyncio
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
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench.workloads import DASHBOARD, DASHBOARD_FLOOR, FORECAST, FORECAST_FLOOR, HOME, SUBMIT, quarter
from db import embedded
from db.engine import asyncpg_dsn
from pipecast.auth import issue_token

PIPECAST = shutil.which("pipecast", path=str(Path(sys.executable).parent)) or "pipecast"


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


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(
    send: Callable[[], Awaitable[int | None]], concurrency: int, seconds: float
) -> tuple[list[float], list[int]]:
    """Run `send` from `concurrency` loops for `seconds`; latencies (ms) and statement counts."""
    latencies: list[float] = []
    counts: list[int] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            count = await send()
            latencies.append((time.perf_counter() - started) * 1000)
            if count is not None:
                counts.append(count)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies, counts


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
    await conn.close()
    tokens = {role: issue_token(user_id, secret, 3600) for role, user_id in people.items()}
    period = quarter()

    port = _free_port()
    server_process = subprocess.Popen(
        [PIPECAST, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results: list[Result] = []
    try:
        await _ready(base)
        from strawberry.relay import to_base64  # noqa: PLC0415

        pipeline_id, root_id = to_base64("Pipeline", pipeline), to_base64("Team", root)
        limits = httpx.Limits(max_connections=max(args.concurrency) + 4)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

            def graphql(
                query: str, variables: dict[str, Any], role: str
            ) -> Callable[[], Awaitable[int | None]]:
                headers = {"Authorization": f"Bearer {tokens[role]}"}

                async def send() -> int | None:
                    response = await client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=headers
                    )
                    body = response.json()
                    if response.status_code != 200 or "errors" in body:
                        raise RuntimeError(f"the benchmark request failed: {str(body)[:300]}")
                    return int(response.headers.get("x-pipecast-statements", -1))

                return send

            dashboard = graphql(DASHBOARD, {"period": period.key}, "manager")
            forecast = graphql(FORECAST, {"p": pipeline_id, "period": period.key, "t": root_id}, "admin")
            home = graphql(HOME, {"p": pipeline_id, "period": period.key}, "rep")
            rep_id = to_base64("User", people["rep"])
            submit_n = iter(range(10**9))

            async def submit() -> int | None:
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
                return await graphql(SUBMIT, variables, "rep")()

            reads = [dashboard, forecast, home]
            turn = iter(range(10**9))

            async def mixed() -> int | None:
                n = next(turn)
                return await (submit() if random.random() < 0.1 else reads[n % len(reads)]())

            workloads = {
                "a dashboard": dashboard,
                "b forecast": forecast,
                "c mobile home": home,
                "d mixed": mixed,
            }
            floor_pool = await asyncpg.create_pool(
                asyncpg_dsn(url), min_size=1, max_size=max(args.concurrency), server_settings={"jit": "off"}
            )
            start, end = period.start(), period.end()
            floors = {
                "a dashboard": lambda: floor_pool.fetchval(DASHBOARD_FLOOR, start, end, people["manager"]),
                "b forecast": lambda: floor_pool.fetchval(
                    FORECAST_FLOOR, pipeline, start, end, root, period.key
                ),
            }
            for workload, send in workloads.items():
                for concurrency in args.concurrency:
                    await drive(send, concurrency, args.warmup)
                    latencies, counts = await drive(send, concurrency, args.duration)
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
                        _rss(server_process.pid),
                    )
                    if workload in floors:
                        floor = floors[workload]

                        async def floor_send(query: Callable[[], Awaitable[Any]] = floor) -> int | None:
                            await query()
                            return None

                        await drive(floor_send, concurrency, args.warmup)
                        floor_latencies, _ = await drive(floor_send, concurrency, args.duration)
                        result.floor_p50_ms = _percentile(floor_latencies, 0.5)
                        result.ratio = result.p50_ms / result.floor_p50_ms
                    results.append(result)
                    print(_line(result), file=sys.stderr)
            await floor_pool.close()
    finally:
        server_process.terminate()
        server_process.wait(timeout=30)
        await _on_server(server, drop)  # a 1M-deal database is gigabytes: leave nothing behind
    return results


def _rss(pid: int) -> float | None:
    """The largest resident set of the server's worker processes (or of the server itself), in MB."""
    try:
        parent = psutil.Process(pid)
        processes = parent.children(recursive=True) or [parent]
        largest: int = max(p.memory_info().rss for p in processes)
        return largest / 2**20
    except psutil.Error:
        return None


async def _ready(base: str) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready")


HEADER = (
    f"{'workload':<14} {'deals':>9} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'stmts':>6} {'RSS MB':>7} {'floor p50':>9} {'ratio':>6}"
)


def _line(r: Result) -> str:
    floor = f"{r.floor_p50_ms:9.1f}" if r.floor_p50_ms is not None else f"{'':>9}"
    ratio = f"{r.ratio:6.1f}" if r.ratio is not None else f"{'':>6}"
    statements = f"{r.statements:6.1f}" if r.statements is not None else f"{'':>6}"
    rss = f"{r.rss_mb:7.0f}" if r.rss_mb is not None else f"{'':>7}"
    return (
        f"{r.workload:<14} {r.deals:>9} {r.concurrency:>4} {r.rps:8.1f} {r.p50_ms:8.1f} {r.p95_ms:8.1f} "
        f"{r.p99_ms:8.1f} {statements} {rss} {floor} {ratio}"
    )


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=_ints, default=[10_000, 100_000, 1_000_000], help="deal counts")
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
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
    print(HEADER)
    for result in results:
        print(_line(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
