"""Settings of the members service (MEMBERS_* variables)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MembersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERS_", extra="ignore")

    service_name: str = "members"
    port: int = 8103
