"""Settings of the fees service (FEES_* variables)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FeesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEES_", extra="ignore")

    service_name: str = "fees"
    port: int = 8104
