"""Settings every process shares (broker, database host, tracing, secrets) and the base for a service's own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    """Read from `LEAGUE_*` variables; the defaults run on a developer's machine."""

    model_config = SettingsConfigDict(env_prefix="LEAGUE_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Databases are named `<db_prefix>_<service>` on this server unless a service is given a URL.
    database_server_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432"
    db_prefix: str = "league"
    # Connections each process keeps to its database at most; requests beyond wait for one.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    # The same for processes without HTTP (events, relay, consume, worker): they batch their
    # work, so a few connections carry it, and a pool holds its peak until recycled: 15
    # processes at 20 each would pass PostgreSQL's default limit of 100 connections.
    background_db_pool_size: int = Field(default=6, ge=1, le=200)
    # Signs the caller identity the gateway forwards; the launcher generates one per installation.
    internal_secret: str = "dev-only-internal-secret-change-me"  # noqa: S105 - local default
    var_dir: Path = Path(".run")
    log_level: str = "INFO"
    log_json: bool = True
    # Finished spans appended as JSON lines: how end-to-end tests follow a trace across processes.
    span_file: Path | None = None
    trace_console: bool = False
    # Back-off before each retry of a failed event; after the last one it goes to the DLQ.
    retry_delays_ms: list[int] = Field(default_factory=lambda: [1_000, 10_000, 60_000])
    delivery_limit: int = 10
    consumer_prefetch: int = 32
    # Fault injection for reliability tests; never set in production.
    fault_relay_exit_after_publish: bool = False
    fault_fail_event_types: list[str] = Field(default_factory=list)


class ServiceSettings(BaseSettings):
    """A service's settings: subclass with `env_prefix="<SERVICE>_"`."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8100
    database_url: str | None = None
    # API processes sharing the port (`<SERVICE>_API_WORKERS`): the kernel spreads connections
    # over them, so one service's API can use every core at its peak (fees at the month start).
    # Each keeps its own pool, so its pool size times this must stay within the database's limit.
    api_workers: int = Field(default=1, ge=1, le=32)
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        p = self.platform
        return f"{p.database_server_url}/{p.db_prefix}_{self.service_name}"
