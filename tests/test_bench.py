"""The benchmark runs end to end (`python -m bench`), here at a tiny size and for a moment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import cli_env

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them


def test_the_benchmark_runs_end_to_end(tmp_path: Path, server_url: str) -> None:
    out = tmp_path / "results.json"
    args = ["--sizes", "1500", "--teams", "6", "--users", "40", "--concurrency", "1,2", "--duration", "0.5",
            "--warmup", "0.1", "--workers", "1", "--live-subscribers", "12", "--json", str(out)]  # fmt: skip
    env = cli_env(BENCH_DATABASE_URL=server_url) | {"PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())
    workloads = ("a dashboard", "a2 dashboard ALL", "b forecast", "b2 forecast with predictions", "c mobile home",
                 "d mixed", "e update deal")  # fmt: skip
    variants = (
        ("e update deal", "no rollups"),
        ("e update deal", "no history"),
        ("b forecast", "no adjustments"),
    )
    runs = (
        {(w, "pipecast", c) for w in workloads for c in (1, 2)}
        | {(w, server, c) for w, server in variants for c in (1, 2)}
        | {("f waterfall", "pipecast", 1), ("g trend", "pipecast", 1)}  # history reads: the first level only
        | {("h live", "pipecast", 12)}  # 12 subscribers on WebSockets
    )
    assert {(r["workload"], r["server"], r["concurrency"]) for r in rows} == runs
    [live] = [r for r in rows if r["workload"] == "h live"]
    rows.remove(live)
    assert live["live"]["delivered"] == live["live"]["expected deliveries"] > 0
    assert live["p95_ms"] < 10_000
    assert all(r["requests"] > 0 and r["statements"] and r["statements"] > 0 for r in rows)
    # The reads take the compiled path, in the viewer read and one statement (the forecast's own more).
    for row in rows:
        if row["workload"].startswith("a"):
            assert (row["read_path"], row["statements"]) == ("compiled", 2), row
    floored = [
        r for r in rows if r["workload"] in ("a dashboard", "b forecast") and r["server"] == "pipecast"
    ]
    assert floored
    assert all(r["ratio"] is not None for r in floored)
    assert "workload" in result.stdout
