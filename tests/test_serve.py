"""`pipecast serve --demo` as a newcomer runs it: embedded PostgreSQL, demo data, real HTTP on a free port."""

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support import cli_env, served

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them


def test_serve_demo_answers_over_http(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    with served("--demo", env=cli_env(PIPECAST_DATA_DIR=str(data_dir)), log=log) as running:
        base = running.base
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

        introspection = httpx.post(
            f"{base}/graphql",
            json={"query": "{ __schema { queryType { name } } }"},
            headers={"Authorization": f"Bearer {tokens['rep']}"},
            timeout=10,
        )
        assert introspection.json() == {
            "data": {"__schema": {"queryType": {"name": "Query"}}}
        }  # on in demo mode

        anonymous = httpx.post(f"{base}/graphql", json={"query": "{ viewer { email } }"}, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()
        # GraphiQL works offline: every script and style the page loads comes from this server.
        references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = [r for r in references if not r.startswith("data:")]  # the icon is inline
        assert len(assets) == 7, references
        for asset in assets:
            assert asset.startswith("/graphiql/"), asset
            fetched = httpx.get(f"{base}{asset}", timeout=10)
            assert fetched.status_code == 200, asset
            assert fetched.headers["content-type"].startswith(
                ("text/javascript", "application/javascript", "text/css")
            )
        assert "unpkg.com" not in page.text
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    assert running.process.returncode == 0, log.read_text()
    # Logs are one format: past the banner `serve` prints for a person, every line is a JSON object, and
    # each request has exactly one (uvicorn's own access lines are off).
    lines = log.read_text().splitlines()
    banner = [line for line in lines if not line.startswith("{")]
    assert banner[0].startswith("Pipecast is serving on"), banner
    assert all(line.startswith(("Pipecast is serving", "GraphiQL:", "Paste one", "  ")) for line in banner), (
        banner
    )
    records = [json.loads(line) for line in lines if line.startswith("{")]
    requests = [r for r in records if "request_id" in r]
    assert len([r for r in requests if r["path"].startswith("/graphiql/")]) == 7  # the page's assets
    assert [(r["method"], r["path"], r["status"]) for r in requests if r["path"] == "/graphql"] == [
        ("POST", "/graphql", 200), ("POST", "/graphql", 200), ("POST", "/graphql", 200),
        ("POST", "/graphql", 200), ("POST", "/graphql", 401), ("GET", "/graphql", 200),
    ]  # fmt: skip
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records if "request_id" not in r)
    # The embedded PostgreSQL stopped with the server.
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
