"""Settings of the activities service (ACTIVITIES_* variables)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ActivitiesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVITIES_", extra="ignore")

    service_name: str = "activities"
    port: int = 8105
