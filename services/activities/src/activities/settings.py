"""Settings of the activities service (ACTIVITIES_* variables)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ActivitiesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVITIES_", extra="ignore")

    service_name: str = "activities"
    port: int = 8105
    # The org service holds uploaded documents: a summary's photos are checked there.
    org_url: str = "http://127.0.0.1:8102"
