"""Settings of the members service (MEMBERS_* variables)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MembersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERS_", extra="ignore")

    service_name: str = "members"
    port: int = 8103
    # ID-number encryption: key id -> base64 of 32 bytes (JSON in MEMBERS_ID_KEYS). Several keys
    # may be configured so one can be rotated; new values use the active one. Without keys (a
    # developer's machine) keys are derived from the installation secret.
    id_keys: dict[str, str] = Field(default_factory=dict)
    id_active_key: str | None = None
    # The keyed hash behind uniqueness and look-up (base64 of 32 bytes); never rotated in place.
    id_hash_key: str | None = None
    max_import_rows: int = 10_000
    max_import_bytes: int = 8 * 1024 * 1024
    review_due_working_days: int = 5
    account_due_working_days: int = 15
    rectification_due_working_days: int = 10
    # Where organisations not yet in the local copy are read through (see shared.orgtree).
    org_url: str = "http://127.0.0.1:8102"
