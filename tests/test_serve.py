"""`pipecast serve --demo` as a newcomer runs it: embedded PostgreSQL, demo data, real HTTP on a free port."""

import re
from pathlib import Path

import httpx

from tests.support import cli_env, served


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
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    assert running.process.returncode == 0, log.read_text()
    # The embedded PostgreSQL stopped with the server.
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
