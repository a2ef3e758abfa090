"""Settings of the transfers service (TRANSFERS_* variables)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TransfersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSFERS_", extra="ignore")

    service_name: str = "transfers"
    port: int = 8106
    # Serve the database and the routes. Off until the members side of the saga exists (a
    # completed transfer must move the member): the launcher does not migrate or start it yet,
    # and the integration tests turn it on.
    serving: bool = False
