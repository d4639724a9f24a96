"""Settings: one typed class, read once from the environment, passed to `create_app`."""

import secrets
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from db import embedded
from db.engine import async_url

MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """A configuration that cannot work; the message says what to set."""


class Settings(BaseSettings):
    """Every environment variable Pipecast reads (the README's configuration table)."""

    model_config = SettingsConfigDict(env_prefix="PIPECAST_", extra="ignore", populate_by_name=True)

    database_url: Annotated[
        str | None, Field(validation_alias=AliasChoices("DATABASE_URL", "PIPECAST_DATABASE_URL"))
    ] = None
    data_dir: Path = Path(platformdirs.user_data_dir("pipecast"))
    jwt_secret: str | None = None
    token_ttl: int = 8 * 3600
    graphiql: bool | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 10
    statement_timeout: Annotated[float, Field(gt=0)] = 10.0
    report_statements: bool = False
    compiled_reads: bool = True
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_user_claim: Literal["sub", "email"] = "sub"
    introspection: bool | None = None
    cors_origins: Annotated[list[str], NoDecode] = []
    live_per_connection: Annotated[int, Field(ge=1)] = 20
    live_per_user: Annotated[int, Field(ge=1)] = 200
    live_waiting: Annotated[int, Field(ge=1)] = 1_000
    ws_compression: bool = False

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [o.strip() for o in value.split(",") if o.strip()] if isinstance(value, str) else value

    # Set by `resolved()` when it started the embedded server; not read from the environment.
    embedded_server: Annotated[bool, Field(exclude=True, validation_alias="__not_an_env_var__")] = False

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value:
            async_url(value)  # raises with a clear message for anything but PostgreSQL
        return value or None

    @property
    def embedded(self) -> bool:
        """The database is (or will be) the embedded server rather than a DATABASE_URL."""
        return self.database_url is None or self.embedded_server

    @property
    def introspection_enabled(self) -> bool:
        """Introspection follows GraphiQL (on for the embedded demo, off in production) unless set."""
        return self.graphiql_enabled if self.introspection is None else self.introspection

    @property
    def graphiql_enabled(self) -> bool:
        """GraphiQL is on for the embedded (demo) setup and off by default against a real DATABASE_URL."""
        return self.embedded if self.graphiql is None else self.graphiql

    def resolved(self, *, need_secret: bool = True) -> "Settings":
        """Settings with a concrete database URL and (when needed) JWT secret.

        Without DATABASE_URL the embedded server is started in `data_dir` and a random secret is kept in
        the data folder, so that `serve` and `token` agree. With DATABASE_URL the secret must be given.
        """
        if self.embedded_server:
            return self
        if self.database_url is not None:
            if not need_secret:
                return self
            if not self.jwt_secret:
                raise SettingsError(
                    "PIPECAST_JWT_SECRET is not set: with DATABASE_URL, set it to a random string of at "
                    f"least {MIN_SECRET_LENGTH} characters (e.g. `openssl rand -hex 32`)"
                )
            if len(self.jwt_secret) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    f"PIPECAST_JWT_SECRET is too short: use at least {MIN_SECRET_LENGTH} characters"
                )
            return self
        url = embedded.start(self.data_dir / "postgres")
        return self.model_copy(
            update={
                "database_url": url,
                "jwt_secret": self.jwt_secret or _data_dir_secret(self.data_dir),
                "graphiql": self.graphiql_enabled,
                "embedded_server": True,
            }
        )

    def environment(self) -> dict[str, str]:
        """These settings as environment variables, for worker processes that read them again."""
        env = {
            "PIPECAST_DATA_DIR": str(self.data_dir),
            "PIPECAST_TOKEN_TTL": str(self.token_ttl),
            "PIPECAST_GRAPHIQL": str(self.graphiql_enabled).lower(),
            "PIPECAST_DB_POOL_SIZE": str(self.db_pool_size),
            "PIPECAST_DB_MAX_OVERFLOW": str(self.db_max_overflow),
            "PIPECAST_STATEMENT_TIMEOUT": str(self.statement_timeout),
            "PIPECAST_REPORT_STATEMENTS": str(self.report_statements).lower(),
            "PIPECAST_COMPILED_READS": str(self.compiled_reads).lower(),
            "PIPECAST_INTROSPECTION": str(self.introspection_enabled).lower(),
            "PIPECAST_CORS_ORIGINS": ",".join(self.cors_origins),
            "PIPECAST_LIVE_PER_CONNECTION": str(self.live_per_connection),
            "PIPECAST_LIVE_PER_USER": str(self.live_per_user),
            "PIPECAST_LIVE_WAITING": str(self.live_waiting),
            "PIPECAST_WS_COMPRESSION": str(self.ws_compression).lower(),
        }
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.jwt_secret:
            env["PIPECAST_JWT_SECRET"] = self.jwt_secret
        return env


def _data_dir_secret(data_dir: Path) -> str:
    path = data_dir / "jwt-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()
