"""Settings of the org service (ORG_* variables)."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class OrgSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORG_", extra="ignore")

    service_name: str = "org"
    port: int = 8102
    documents_dir: Path = Path(".run/documents")
    max_document_bytes: int = 10 * 1024 * 1024
    # Creation later than this many working days after approval is recorded as late.
    creation_deadline_working_days: int = 30
    dissolution_deadline_working_days: int = 15
    # The services whose figures the annual assessment report combines (`ORG_<SERVICE>_URL`).
    identity_url: str = "http://127.0.0.1:8101"
    members_url: str = "http://127.0.0.1:8103"
    fees_url: str = "http://127.0.0.1:8104"
    activities_url: str = "http://127.0.0.1:8105"
    transfers_url: str = "http://127.0.0.1:8106"

    def service_urls(self) -> dict[str, str]:
        return {
            "identity": self.identity_url.rstrip("/"),
            "members": self.members_url.rstrip("/"),
            "fees": self.fees_url.rstrip("/"),
            "activities": self.activities_url.rstrip("/"),
            "transfers": self.transfers_url.rstrip("/"),
        }
