"""The rules this installation bills by, built once from settings: the rate schedule, the
retention shares, the income sealer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from fees.domain.rates import RateSchedule, schedule_of, shipped_tables, tables_from_toml
from fees.domain.retention import shares_of
from fees.settings import FeesSettings
from shared.crypto import Sealer, configured_sealer


@dataclass(frozen=True)
class FeeRules:
    schedule: RateSchedule
    retention: dict[str, Decimal]
    income_sealer: Sealer


def fee_rules(settings: FeesSettings) -> FeeRules:
    """Refuses to start on a schedule naming an unknown table or a share out of range: a
    misconfigured province finds out at deployment, not on the 1st of the month."""
    tables = shipped_tables()
    if settings.rate_tables_file is not None:
        tables |= tables_from_toml(settings.rate_tables_file.read_text(encoding="utf-8"))
    return FeeRules(
        schedule=schedule_of(settings.rate_schedule, tables),
        retention=shares_of(settings.retention),
        income_sealer=configured_sealer(
            settings.income_keys,
            settings.income_active_key,
            settings.platform.internal_secret,
            "fees/incomes",
        ),
    )
