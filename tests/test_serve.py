"""`pipecast serve --demo` as a newcomer runs it: embedded PostgreSQL, demo data, real HTTP on a free port."""

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import PIPECAST, cli_env

STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"serve was not ready within {STARTUP_SECONDS} s:\n{log.read_text()}")


def test_serve_demo_answers_over_http(tmp_path: Path) -> None:
    port, data_dir, log = _free_port(), tmp_path / "data", tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PIPECAST, "serve", "--demo", "--port", str(port)],
            env=cli_env(PIPECAST_DATA_DIR=str(data_dir)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(base, process, log)
        printed = log.read_text()
        assert f"GraphiQL: {base}/graphql" in printed
        tokens = dict(
            re.findall(
                r"^\s+(\w+)\s+\S+@example\.com\s+\{\"Authorization\": \"Bearer (\S+)\"\}", printed, re.M
            )
        )
        assert set(tokens) == {"admin", "manager", "rep"}

        for role, email in (
            ("admin", "admin@example.com"),
            ("manager", "manager@example.com"),
            ("rep", "rep@example.com"),
        ):
            response = httpx.post(
                f"{base}/graphql",
                json={"query": "{ viewer { email } }"},
                headers={"Authorization": f"Bearer {tokens[role]}"},
                timeout=10,
            )
            assert response.json() == {"data": {"viewer": {"email": email}}}

        anonymous = httpx.post(f"{base}/graphql", json={"query": "{ viewer { email } }"}, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=30)
    assert returncode == 0, log.read_text()
    # The embedded PostgreSQL stopped with the server.
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
