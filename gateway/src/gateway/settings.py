"""The gateway's settings: where the services listen, the token key, and request limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import PlatformSettings

MIB = 1024 * 1024


class GatewaySettings(BaseSettings):
    """Read from `GATEWAY_*` variables (platform settings from `LEAGUE_*`)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # One field per service rather than a dict: `GATEWAY_ORG_URL=...` overrides one service
    # without restating the others.
    identity_url: str = "http://127.0.0.1:8101"
    org_url: str = "http://127.0.0.1:8102"
    members_url: str = "http://127.0.0.1:8103"
    fees_url: str = "http://127.0.0.1:8104"
    activities_url: str = "http://127.0.0.1:8105"
    transfers_url: str = "http://127.0.0.1:8106"
    # PEM of identity's Ed25519 public key; re-read when the file changes, so it may appear
    # after the gateway starts (identity creates it) and can be rotated in place.
    jwt_public_key_file: Path | None = None
    max_body_bytes: int = 12 * MIB
    rate_per_second: float = 20.0
    rate_burst: int = 100
    # Names this process's own state queue; every gateway instance needs its own copy of events.
    # In a cluster: the pod's name (deploy/k8s), with the queue expiring once unused, since a
    # replaced pod's name never comes back; it starts from the services' snapshots anyway.
    instance: str = "1"
    state_queue_expires_seconds: int | None = Field(default=None, ge=60)
    # The web console's built files (default: gateway/console/dist, where `make up` builds it).
    console_dir: Path | None = None
    upstream_timeout_seconds: float = 30.0
    upstream_max_connections: int = 200
    # How often route tables of answering services are re-read (services are released alone).
    routes_refresh_seconds: float = 60.0
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    @property
    def services(self) -> dict[str, str]:
        """Service name → base URL, in the order their routes and schemas take precedence."""
        return {
            "identity": self.identity_url.rstrip("/"),
            "org": self.org_url.rstrip("/"),
            "members": self.members_url.rstrip("/"),
            "fees": self.fees_url.rstrip("/"),
            "activities": self.activities_url.rstrip("/"),
            "transfers": self.transfers_url.rstrip("/"),
        }
