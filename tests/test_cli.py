"""The `pipecast` command, run as a subprocess the way a user types it, against a real PostgreSQL."""

import os
import stat
from pathlib import Path

import httpx
import jwt
import pytest
from graphql import build_schema
from sqlalchemy import func, select, text
from strawberry.relay import from_base64

from db.deals import DEALS
from db.deals import category as deal_category
from db.engine import create_engine
from db.migrate import head_revision
from db.tables import deals, forecast_submissions, goals, team_memberships, teams, users
from tests.conftest import fresh_database
from tests.support import SECRET, cli_env, data, pipecast

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them


@pytest.fixture(scope="module")
def env(database_url: str) -> dict[str, str]:
    return cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)


def _fails(result: object, message: str) -> None:
    """A clean failure: exit 1, one line on stderr that says what is wrong, no traceback."""
    assert getattr(result, "returncode", None) == 1, result
    stderr: str = getattr(result, "stderr", "")
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert message in stderr, stderr


async def _count(url: str, table: object) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def test_migrate_brings_an_empty_database_up_and_is_idempotent(server_url: str) -> None:
    env = cli_env(DATABASE_URL=await fresh_database(server_url, template=None))
    first = pipecast("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"migrated (empty) → {head_revision()}"
    again = pipecast("migrate", env=env)
    assert again.stdout.strip() == f"database already at migration {head_revision()}"


async def test_commands_refuse_a_database_that_is_behind(server_url: str) -> None:
    env = cli_env(DATABASE_URL=await fresh_database(server_url, template=None), PIPECAST_JWT_SECRET=SECRET)
    _fails(pipecast("token", "someone@example.com", env=env), "run `pipecast migrate` first")


def test_an_unreachable_database_is_one_clear_line() -> None:
    result = pipecast(
        "migrate", env=cli_env(DATABASE_URL="postgresql://postgres:hunter2@127.0.0.1:1/nowhere")
    )
    _fails(result, "cannot use the database at postgresql://postgres:***@127.0.0.1:1/nowhere")
    assert "hunter2" not in result.stderr


def test_a_database_url_that_is_not_postgresql_is_refused() -> None:
    _fails(pipecast("migrate", env=cli_env(DATABASE_URL="mysql://root@localhost/x")), "only postgresql://")


@pytest.mark.parametrize("command", [["token", "a@example.com"], ["serve", "--port", "1"]])
def test_serve_and_token_need_a_secret_with_a_database_url(database_url: str, command: list[str]) -> None:
    _fails(pipecast(*command, env=cli_env(DATABASE_URL=database_url)), "PIPECAST_JWT_SECRET is not set")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "0"], "0 is below 1"),
        (["serve", "--workers", "many"], "'many' is not a whole number"),
        (["seed", "--teams", "-3"], "-3 is below 1"),
        (["token"], "the following arguments are required: email"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    result = pipecast(*args, env=cli_env())
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_create_user_then_token_signs_in(env: dict[str, str], client: httpx.AsyncClient) -> None:
    created = pipecast("create-user", "--email", "Mia@Example.com", "--name", "Mia Manager", "--sales-seat",
                       "--role", "sales_manager", env=env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    global_id = created.stdout.strip()
    type_name, user_id = from_base64(global_id)
    assert type_name == "User"

    token = pipecast("token", "mia@example.com", "--ttl", "120", env=env)
    assert token.returncode == 0, token.stderr
    claims = jwt.decode(token.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == user_id
    assert claims["exp"] - claims["iat"] == 120

    viewer = await data(client, "{ viewer { id name email salesSeat } }", token=token.stdout.strip())
    assert viewer == {
        "viewer": {"id": global_id, "name": "Mia Manager", "email": "Mia@Example.com", "salesSeat": True}
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--email", "mia@example.com", "--name", "Again"],
            "a user with email mia@example.com already exists",
        ),
        (["--email", "not-an-email", "--name", "X"], "is not an email address"),
        (["--email", "x@example.com", "--name", "  "], "--name must be 1–200 characters"),
        (["--email", "x@example.com", "--name", "N" * 201], "--name must be 1–200 characters"),
        (["--email", "y@example.com", "--name", "Y", "--role", "wizard"], "unknown role 'wizard'"),
    ],
)
async def test_create_user_refuses_bad_input_and_writes_nothing(
    env: dict[str, str], database_url: str, args: list[str], message: str
) -> None:
    before = await _count(database_url, users)
    _fails(pipecast("create-user", *args, env=env), message)
    assert await _count(database_url, users) == before


def test_token_for_an_unknown_email_is_refused(env: dict[str, str]) -> None:
    _fails(pipecast("token", "nobody@example.com", env=env), "no user has the email nobody@example.com")


def test_schema_prints_the_served_sdl() -> None:
    result = pipecast("schema", env=cli_env())
    assert result.returncode == 0, result.stderr
    built = build_schema(result.stdout)
    assert str(built.query_type.fields["viewer"].type) == "User!"  # type: ignore[union-attr]


async def test_seed_demo_builds_a_demo_company(server_url: str, template_database: str) -> None:
    url = await fresh_database(server_url, template_database)
    env = cli_env(DATABASE_URL=url)
    result = pipecast("seed", "--demo", env=env)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "seeded 8 teams, 36 users and 600 deals in " + result.stdout.split(" in ")[1].strip()
    )
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            depth = await conn.scalar(
                text(
                    "WITH RECURSIVE tree AS (SELECT id, 1 AS depth FROM teams WHERE parent_id IS NULL "
                    "UNION ALL SELECT t.id, tree.depth + 1 FROM teams t JOIN tree ON t.parent_id = tree.id) "
                    "SELECT max(depth) FROM tree"
                )
            )
            assert depth == 3
            assert await conn.scalar(select(func.count()).select_from(teams)) == 8
            # A believable company: each region holds its own countries.
            parents = text(
                "SELECT t.name, p.name FROM teams t LEFT JOIN teams p ON p.id = t.parent_id ORDER BY t.id"
            )
            assert dict([tuple(row) for row in await conn.execute(parents)]) == {
                "Global Sales": None, "EMEA": "Global Sales", "Americas": "Global Sales", "Nordics": "EMEA",
                "DACH": "EMEA", "UK & Ireland": "EMEA", "North America": "Americas", "Latin America": "Americas",
            }  # fmt: skip
            # Neighbours share no surname: the demo manager and rep do not look related.
            named = [(row[0], row[1]) for row in await conn.execute(select(users.c.email, users.c.name))]
            by_email = dict(named)
            manager, rep = by_email["manager@example.com"], by_email["rep@example.com"]
            assert manager.split()[-1] != rep.split()[-1]
            assert len({name.split()[-1] for _, name in named}) >= 25
            # History inside the current quarter, so the signals and trends move; and the closed deals'
            # stage walks and slips before it, so predictions have a past to learn from.
            changes = text("SELECT count(DISTINCT deal_id), array_agg(DISTINCT field) FROM deal_changes")
            moved, fields = (await conn.execute(changes)).one()
            assert moved > 50
            assert sorted(fields) == ["amount", "closeDate", "stage"]
            walked = text(
                "SELECT count(DISTINCT c.deal_id) FROM deal_changes c JOIN deals d ON d.id = c.deal_id "
                "JOIN stages s ON s.id = d.stage_id WHERE s.state <> 'OPEN' AND c.field = 'stage'"
            )
            assert await conn.scalar(walked) > 100
            assert await conn.scalar(select(func.count()).select_from(users)) == 37
            assert await conn.scalar(select(func.count()).select_from(deals)) == 600
            assert await conn.scalar(select(func.count(func.distinct(deals.c.currency)))) == 2
            categories = select(func.count(func.distinct(deal_category))).select_from(DEALS)
            assert await conn.scalar(categories) == 5
            assert await conn.scalar(select(func.count()).where(team_memberships.c.role == "MANAGER")) == 8
            assert (await conn.scalar(select(func.count()).select_from(goals)) or 0) > 0
            assert (await conn.scalar(select(func.count()).select_from(forecast_submissions)) or 0) > 0
            emails = set((await conn.execute(select(users.c.email))).scalars())
            assert {"admin@example.com", "manager@example.com", "rep@example.com"} <= emails
    finally:
        await engine.dispose()
    _fails(pipecast("seed", "--demo", env=env), "seed into an empty database")


async def _deal_fingerprint(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            fingerprint = await conn.scalar(
                text(
                    "SELECT md5(string_agg(concat_ws('|', name, owner_id, stage_id, amount, currency, "
                    "close_date, forecast_category, probability), ',' ORDER BY id)) FROM deals"
                )
            )
            return str(fingerprint)
    finally:
        await engine.dispose()


async def test_bulk_seed_is_deterministic_for_a_seed(server_url: str, template_database: str) -> None:
    prints = []
    for random_seed in ("3", "3", "4"):
        url = await fresh_database(server_url, template_database)
        args = ("seed", "--teams", "6", "--users", "25", "--deals", "2000", "--random-seed", random_seed)
        result = pipecast(*args, env=cli_env(DATABASE_URL=url))
        assert result.returncode == 0, result.stderr
        assert "2.00k/2.00k" in result.stderr  # the progress bar reached the end
        assert await _count(url, deals) == 2000
        prints.append(await _deal_fingerprint(url))
    assert prints[0] == prints[1] != prints[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--teams", "5"], "bulk seeding needs all of --teams, --users and --deals"),
        (["--demo", "--teams", "5"], "give either --demo or all of --teams, --users and --deals"),
        ([], "give either --demo or all of --teams, --users and --deals"),
    ],
)
def test_seed_arguments_must_make_sense(env: dict[str, str], args: list[str], message: str) -> None:
    _fails(pipecast("seed", *args, env=env), message)


def test_the_embedded_database_needs_nothing_installed(tmp_path: Path) -> None:
    env = cli_env(PIPECAST_DATA_DIR=str(tmp_path / "data"))
    created = pipecast("create-user", "--email", "solo@example.com", "--name", "Solo", "--admin", env=env)
    assert created.returncode == 0, created.stderr
    token = pipecast("token", "solo@example.com", env=env)
    assert token.returncode == 0, token.stderr
    secret_file = tmp_path / "data" / "jwt-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    claims = jwt.decode(token.stdout.strip(), secret_file.read_text().strip(), algorithms=["HS256"])
    assert from_base64(created.stdout.strip()) == ("User", claims["sub"])
    # Every command stopped the server it started: no process serves that data folder any more.
    postmaster = tmp_path / "data" / "postgres" / "postmaster.pid"
    assert not postmaster.exists() or not _running(int(postmaster.read_text().split()[0]))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("scheme", ["postgres", "postgresql+asyncpg", "postgresql+psycopg"])
def test_any_postgresql_url_form_is_accepted(database_url: str, scheme: str) -> None:
    url = scheme + database_url[database_url.index("://") :]
    result = pipecast("migrate", env=cli_env(DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"database already at migration {head_revision()}"
