"""The `pipecast` command: serve, migrate, seed, create-user, token, schema."""

import argparse
import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
import sqlalchemy.exc
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import to_base64

from authz.roles import ADMIN, UnknownRole, assign_roles
from db import history, rollups, stage_rollups
from db.engine import DatabaseUrlError, create_engine, display_url
from db.migrate import DatabaseBehind, ensure_current, upgrade
from db.tables import deal_rollups
from db.users import create_user, user_by_email
from pipecast.auth import issue_token
from pipecast.seed import DEMO_ACCOUNTS, DEMO_PLAN, NotEmpty, SeedPlan, is_empty, seed
from pipecast.settings import Settings, SettingsError

T = TypeVar("T")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class CommandError(Exception):
    """A one-line, actionable message for the user; the command exits 1."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except CommandError as exc:
        sys.exit(f"pipecast: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipecast",
        description="Pipecast, the sales-forecasting GraphQL backend. Without DATABASE_URL every command "
        "uses an embedded PostgreSQL in PIPECAST_DATA_DIR.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate if needed and serve GraphQL over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    serve.add_argument("--demo", action="store_true", help="seed a demo company if the database is empty")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(run=_migrate)

    seed_cmd = commands.add_parser("seed", help="fill an empty database with a demo or a bulk company")
    seed_cmd.add_argument("--demo", action="store_true", help="the demo company of `serve --demo`")
    seed_cmd.add_argument("--teams", type=_positive, help="number of teams (a three-level tree)")
    seed_cmd.add_argument("--users", type=_positive, help="number of users")
    seed_cmd.add_argument("--deals", type=_non_negative, help="number of deals")
    seed_cmd.add_argument("--random-seed", type=int, default=1, help="the seed of the generator (default 1)")
    seed_cmd.set_defaults(run=_seed)

    create = commands.add_parser("create-user", help="create a user and print its id")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--admin", action="store_true", help="give the user the admin role")
    create.add_argument("--role", action="append", default=[], help="a role to give (repeatable)")
    create.add_argument("--sales-seat", action="store_true", help="the user holds a sales seat")
    create.set_defaults(run=_create_user)

    token = commands.add_parser("token", help="print a signed access token for a user")
    token.add_argument("email")
    token.add_argument("--ttl", type=_positive, help="lifetime in seconds (default PIPECAST_TOKEN_TTL)")
    token.set_defaults(run=_token)

    schema_cmd = commands.add_parser("schema", help="print the served GraphQL schema (SDL)")
    schema_cmd.set_defaults(run=_schema)

    rollups_cmd = commands.add_parser("rollups", help="check or rebuild the forecast rollups")
    rollup_commands = rollups_cmd.add_subparsers(required=True, metavar="ACTION")
    verify = rollup_commands.add_parser(
        "verify", help="compare the rollups with the deals; exit 1 and print the differences if any"
    )
    verify.set_defaults(run=_rollups_verify)
    rebuild = rollup_commands.add_parser("rebuild", help="recompute the rollups from the deals")
    rebuild.set_defaults(run=_rollups_rebuild)

    backtest_cmd = commands.add_parser(
        "backtest", help="how predictions would have done on the last ended periods"
    )
    backtest_cmd.add_argument("--pipeline", metavar="NAME", help="the pipeline (default: the oldest)")
    backtest_cmd.add_argument(
        "--periods", type=_positive, default=4, metavar="N", help="ended periods to test (default 4)"
    )
    backtest_cmd.set_defaults(run=_backtest)
    history_cmd = commands.add_parser("history", help="rebuild the deals' versions (the forecast's history)")
    history_commands = history_cmd.add_subparsers(required=True, metavar="ACTION")
    history_commands.add_parser(
        "rebuild", help="rebuild every deal's versions from the deals and their recorded changes"
    ).set_defaults(run=_history_rebuild)
    return parser


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (1–65535)")
    return value


def _settings(*, need_secret: bool = False) -> Settings:
    try:
        return Settings().resolved(need_secret=need_secret)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandError(f"bad setting {'.'.join(map(str, first['loc'])) or ''}: {first['msg']}") from None
    except (SettingsError, DatabaseUrlError) as exc:
        raise CommandError(str(exc)) from None


def _with_database(
    settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]], *, migrate: bool | None
) -> T:
    """Run `work` against the database: migrate first (True), require it to be current (False), or neither."""
    assert settings.database_url is not None
    where = display_url(settings.database_url)

    async def run() -> T:
        engine = create_engine(settings.database_url or "", pool_size=2, max_overflow=2)
        try:
            if migrate:
                await upgrade(engine)
            elif migrate is False:
                await ensure_current(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DatabaseBehind as exc:
        raise CommandError(str(exc)) from None
    except (OSError, asyncpg.PostgresError, sqlalchemy.exc.DBAPIError, TimeoutError) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise CommandError(f"cannot use the database at {where}: {_one_line(reason)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _serve(args: argparse.Namespace) -> None:
    import uvicorn  # noqa: PLC0415  (only `serve` needs the server)

    from pipecast.logs import UVICORN_LOG_CONFIG  # noqa: PLC0415

    settings = _settings(need_secret=True)
    accounts = _with_database(settings, lambda engine: _prepare(engine, demo=args.demo), migrate=True)
    address = f"http://{args.host}:{args.port}"
    lines = [f"Pipecast is serving on {address}"]
    if settings.graphiql_enabled:
        lines.append(f"GraphiQL: {address}/graphql")
    if accounts:
        lines.append("Paste one of these into GraphiQL's Headers tab:")
        assert settings.jwt_secret is not None
        for role, (email, user_id) in accounts.items():
            token = issue_token(user_id, settings.jwt_secret, settings.token_ttl)
            lines.append(f'  {role:<8} {email:<22} {{"Authorization": "Bearer {token}"}}')
    print("\n".join(lines), flush=True)
    os.environ.update(settings.environment())
    # uvicorn re-raises SIGTERM after a graceful shutdown; exiting through SystemExit instead lets the
    # embedded PostgreSQL stop with the process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "pipecast.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        log_config=UVICORN_LOG_CONFIG,
        # WebSockets (subscriptions): the sans-I/O implementation, about half the memory per connection of
        # the other; per-message deflate only when asked (its zlib state is ~45 KB per connection).
        ws="websockets-sansio",
        ws_per_message_deflate=settings.ws_compression,
    )


async def _prepare(engine: AsyncEngine, *, demo: bool) -> dict[str, tuple[str, int]]:
    """Seed the demo company into an empty database; returns the demo accounts that exist."""
    if demo:
        async with engine.begin() as conn:
            if await is_empty(conn):
                await seed(conn, DEMO_PLAN)
    async with engine.connect() as conn:
        found = {role: await user_by_email(conn, email) for role, email in DEMO_ACCOUNTS.items()}
    return {role: (user.email, user.id) for role, user in found.items() if user and user.active}


def _migrate(args: argparse.Namespace) -> None:
    before, after = _with_database(_settings(), upgrade, migrate=None)
    print(
        f"database already at migration {after}"
        if before == after
        else f"migrated {before or '(empty)'} → {after}"
    )


def _seed(args: argparse.Namespace) -> None:
    bulk = (args.teams, args.users, args.deals)
    if args.demo == any(value is not None for value in bulk):
        raise CommandError("give either --demo or all of --teams, --users and --deals")
    if not args.demo and None in bulk:
        raise CommandError("bulk seeding needs all of --teams, --users and --deals")
    plan = DEMO_PLAN if args.demo else SeedPlan(args.teams, args.users, args.deals, args.random_seed)
    settings = _settings()

    async def work(engine: AsyncEngine) -> float:
        from tqdm import tqdm  # noqa: PLC0415  (only seeding shows a progress bar)

        started = time.perf_counter()
        with tqdm(
            total=plan.deals, unit=" deals", unit_scale=True, file=sys.stderr, disable=args.demo
        ) as bar:
            async with engine.begin() as conn:
                await seed(conn, plan, bar.update)
        return time.perf_counter() - started

    try:
        elapsed = _with_database(settings, work, migrate=settings.embedded)
    except NotEmpty as exc:
        raise CommandError(str(exc)) from None
    print(f"seeded {plan.teams} teams, {plan.users} users and {plan.deals} deals in {elapsed:.1f} s")


def _create_user(args: argparse.Namespace) -> None:
    name, email = args.name.strip(), args.email.strip()
    if not 1 <= len(name) <= 200:
        raise CommandError("--name must be 1–200 characters")
    if not EMAIL.fullmatch(email) or len(email) > 254:
        raise CommandError(f"--email {email!r} is not an email address (name@example.com)")
    roles = [*args.role, *([ADMIN] if args.admin else [])]
    settings = _settings()

    async def work(engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            if await user_by_email(conn, email):
                raise CommandError(f"a user with email {email} already exists")
            user_id = await create_user(conn, name=name, email=email, sales_seat=args.sales_seat)
            await assign_roles(conn, user_id, roles)
            return user_id

    try:
        user_id = _with_database(settings, work, migrate=settings.embedded)
    except UnknownRole as exc:
        raise CommandError(f"{exc}: the default roles are admin, sales_manager and sales_rep") from None
    print(to_base64("User", user_id))


def _token(args: argparse.Namespace) -> None:
    settings = _settings(need_secret=True)

    async def work(engine: AsyncEngine) -> int:
        async with engine.connect() as conn:
            user = await user_by_email(conn, args.email)
        if user is None:
            raise CommandError(f"no user has the email {args.email}")
        if not user.active:
            raise CommandError(f"the user {args.email} is inactive")
        return user.id

    user_id = _with_database(settings, work, migrate=settings.embedded)
    assert settings.jwt_secret is not None
    print(issue_token(user_id, settings.jwt_secret, args.ttl or settings.token_ttl))


SHOWN_DRIFT = 20


def _rollups_verify(args: argparse.Namespace) -> None:
    async def work(engine: AsyncEngine) -> tuple[list[rollups.Drift], int, int]:
        async with engine.connect() as conn:
            found = await rollups.drift(conn)
            by_stage = await stage_rollups.drift(conn)
            rows = int(await conn.scalar(select(func.count()).select_from(deal_rollups)) or 0)
        return found, by_stage, rows

    found, by_stage, rows = _with_database(_settings(), work, migrate=False)
    if not found and not by_stage:
        print(f"the rollups match the deals ({rows} rollup rows)")
        return
    if by_stage:
        print(f"{by_stage} stage rollup rows (the open deals per stage) differ from the deals")
    if not found:
        print("run `pipecast rollups rebuild` to recompute them")
        sys.exit(1)
    keys = "pipeline, month, owner, stage, manual category, currency, frozen"
    print(f"{len(found)} rollup rows differ from the deals (key: {keys}; deals, amount, weighted, rest):")
    for drift in found[:SHOWN_DRIFT]:
        print(f"  {drift.described()}: stored {drift.stored}, the deals add up to {drift.expected}")
    if len(found) > SHOWN_DRIFT:
        print(f"  … and {len(found) - SHOWN_DRIFT} more")
    print("run `pipecast rollups rebuild` to recompute them")
    sys.exit(1)


def _rollups_rebuild(args: argparse.Namespace) -> None:
    async def work(engine: AsyncEngine) -> tuple[int, int]:
        async with engine.begin() as conn:
            return await rollups.rebuild(conn), await stage_rollups.rebuild(conn)

    started = time.perf_counter()
    rows, by_stage = _with_database(_settings(), work, migrate=False)
    seconds = time.perf_counter() - started
    print(f"rebuilt {rows} rollup rows and {by_stage} stage rollup rows from the deals in {seconds:.1f} s")


def _history_rebuild(args: argparse.Namespace) -> None:
    async def work(engine: AsyncEngine) -> int:
        async with engine.begin() as conn:
            return await history.rebuild(conn)

    started = time.perf_counter()
    versions = _with_database(_settings(), work, migrate=False)
    print(
        f"rebuilt {versions} deal versions from the recorded changes in {time.perf_counter() - started:.1f} s"
    )


def _backtest(args: argparse.Namespace) -> None:
    from pipecast.backtest import UnknownPipeline, backtest, summarize  # noqa: PLC0415

    async def work(engine: AsyncEngine) -> tuple[str, list[Any]]:
        async with engine.connect() as conn:
            return await backtest(conn, args.pipeline, args.periods)

    try:
        name, outcomes = _with_database(_settings(), work, migrate=False)
    except UnknownPipeline as error:
        raise CommandError(str(error)) from None
    print(f"backtest of {name!r}: each subject's P10–P90 at its period's start against what closed won")
    header = ("subjects", 9), ("P10–P90 coverage", 18), ("median |P50 − actual|", 23), ("median relative", 17)
    print(f"{'period':<10}" + "".join(f"{title:>{width}}" for title, width in header))
    periods = sorted({o.period for o in outcomes})
    for label, chosen in [
        *((p.key, [o for o in outcomes if o.period == p]) for p in periods),
        ("all", outcomes),
    ]:
        s = summarize(label, chosen)
        relative = "—" if s.median_relative is None else f"{s.median_relative:.1%}"
        print(f"{s.label:<10}{s.subjects:>9}{s.coverage:>18.1%}{s.median_error:>23,.2f}{relative:>17}")


def _schema(args: argparse.Namespace) -> None:
    from schema.root import build_schema  # noqa: PLC0415  (the other commands need no schema)

    print(build_schema().as_str())
