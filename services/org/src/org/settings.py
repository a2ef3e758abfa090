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
