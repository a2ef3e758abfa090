"""Settings of the transfers service (TRANSFERS_* variables)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TransfersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSFERS_", extra="ignore")

    service_name: str = "transfers"
    port: int = 8106
