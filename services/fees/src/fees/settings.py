"""Settings of the fees service (FEES_* variables)."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FeesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEES_", extra="ignore")

    service_name: str = "fees"
    port: int = 8104
    # The org service holds uploaded documents: a fee use's minutes are checked there.
    org_url: str = "http://127.0.0.1:8102"
    # Which rate table is in force from which day: `name@YYYY-MM-DD`, comma-separated. The
    # shipped tables are `regulation` and `league2016` (fees/domain/rate_tables.toml).
    rate_schedule: str = "regulation@2000-01-01"
    # A province's own tables, in the shipped file's form, beside the shipped ones.
    rate_tables_file: Path | None = None
    # Shares kept by organisation type (留存比例) over the defaults: `branch=0.5,committee=0.2`.
    retention: str = ""
    # Income encryption, as MEMBERS_ID_KEYS: key id -> base64 of 32 bytes (JSON), the active one
    # named or the newest; without keys (a developer's machine) derived from the secret.
    income_keys: dict[str, str] = Field(default_factory=dict)
    income_active_key: str | None = None
    # The online payment provider: `none` (online payment answers 422 until one is connected)
    # or `fake` (a stand-in that accepts every payment, for trials); callbacks are signed with
    # `provider_secret` (default derived from the installation secret).
    provider: Literal["none", "fake"] = "none"
    provider_secret: str | None = None
    # Fault injection for reliability tests, never set in production: a worker dies after
    # writing a chunk's bills, before its transaction commits (and before its ack).
    fault_exit_in_chunk: bool = False
