"""Settings of the activities service (ACTIVITIES_* variables)."""

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ActivitiesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIVITIES_", extra="ignore")

    service_name: str = "activities"
    port: int = 8105
    # The org service holds uploaded documents: a summary's photos are checked there.
    org_url: str = "http://127.0.0.1:8102"
    # Members' phone numbers are looked up there when an SMS is sent.
    members_url: str = "http://127.0.0.1:8103"
    # The SMS provider's stand-in records to this file (JSON lines); `sms_failing` makes it
    # refuse, for trying the retries and the dead-letter queue.
    sms_record_file: Path | None = None  # default: sms-sent.jsonl in LEAGUE_VAR_DIR
    sms_failing: bool = False

    def resolved_sms_record_file(self) -> Path:
        return self.sms_record_file or self.platform.var_dir / "sms-sent.jsonl"
