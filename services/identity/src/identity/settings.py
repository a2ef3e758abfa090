"""Settings of the identity service (IDENTITY_* variables)."""

from datetime import timedelta
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    port: int = 8101
    # Ed25519 private key (PEM); generated into the var dir when not given.
    jwt_private_key_file: Path | None = None
    token_ttl_seconds: int = 2 * 3600
    one_time_code_ttl_hours: int = 48
    activation_code_ttl_days: int = 30
    password_max_age_days: int = 90
    # Where bootstrap asks the org service to create the root organisation.
    org_url: str = "http://127.0.0.1:8102"

    @property
    def one_time_code_ttl(self) -> timedelta:
        """How long a reset code works, wherever it is issued (the API, the operator's command)."""
        return timedelta(hours=self.one_time_code_ttl_hours)
