"""Schemathesis fuzzes the live GraphQL API from the committed schema, as a rep and as an admin.

Each run lasts PIPECAST_FUZZ_SECONDS (default 60) against a real `pipecast serve` in production mode on the
demo company, with the hooks of tests/fuzz_hooks.py: Pipecast's scalars mostly valid, real IDs beside
forged ones, and the check that no response is a 5xx or carries an error other than the public ones.
The rep runs first: the admin's run may deactivate the rep.
"""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from strawberry.relay import to_base64

from db.engine import create_engine
from tests.support import SECRET, cli_env, seed_demo, served, token_for

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them

ROOT = Path(__file__).resolve().parent.parent
FUZZ_SECONDS = os.environ.get("PIPECAST_FUZZ_SECONDS", "60")
SCHEMATHESIS = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
KNOWN = """
    SELECT 'User', id FROM users UNION ALL SELECT 'Team', id FROM teams
    UNION ALL SELECT 'Pipeline', id FROM pipelines UNION ALL SELECT 'Stage', id FROM stages
    UNION ALL (SELECT 'Deal', id FROM deals ORDER BY id LIMIT 40)
"""


@pytest.fixture(scope="module")
async def company(database_url: str) -> dict[str, object]:
    people = await seed_demo(database_url)
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        ids = [to_base64(kind, key) for kind, key in await conn.execute(text(KNOWN))]
    await engine.dispose()
    return {"ids": ids, "admin": people["admin"], "rep": people["rep"]}


@pytest.fixture(scope="module")
def server(
    database_url: str, company: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    with served(env=env, log=tmp_path_factory.mktemp("fuzz") / "serve.log") as running:
        yield f"{running.base}/graphql"


@pytest.mark.parametrize("role", ["rep", "admin"])
def test_fuzzing_finds_no_server_error_and_no_masked_error(
    server: str, company: dict[str, object], role: str, tmp_path: Path
) -> None:
    user = company[role]
    ids = company["ids"]
    assert isinstance(user, int)
    assert isinstance(ids, list)
    env = cli_env(
        SCHEMATHESIS_HOOKS="tests.fuzz_hooks", PYTHONPATH=str(ROOT), PIPECAST_FUZZ_IDS=",".join(ids)
    )
    run = [
        SCHEMATHESIS, "--no-color", "run", str(ROOT / "schema.graphql"), "--url", server,
        "--header", f"Authorization: Bearer {token_for(user)}",
        "--max-time", FUZZ_SECONDS, "--checks", "only_public_errors",
    ]  # fmt: skip
    done = subprocess.run(
        run,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=int(FUZZ_SECONDS) * 3 + 120,
        check=False,
    )
    summary = done.stdout[done.stdout.rfind("SUMMARY") :]
    print(summary)  # the seed to replay a failure with, and how many cases ran
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", summary)
    assert selected is not None, summary
    assert selected[1] == selected[2] == selected[3]  # every query and mutation was fuzzed
