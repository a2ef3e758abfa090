"""A misconfigured installation refuses to start, instead of billing wrongly on the 1st."""

from __future__ import annotations

import pytest

from fees.rules import fee_rules
from fees.settings import FeesSettings


def test_the_default_bills_by_the_regulation() -> None:
    rules = fee_rules(FeesSettings())
    assert rules.schedule.entries[0][1].name == "regulation"


@pytest.mark.parametrize(
    "settings",
    [
        {"rate_schedule": "nowhere@2020-01-01"},
        {"rate_schedule": "regulation@2020-13-01"},
        {"retention": "branch=1.5"},
    ],
)
def test_an_unknown_table_or_a_share_out_of_range_is_refused(settings: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        fee_rules(FeesSettings(**settings))  # type: ignore[arg-type]


def test_a_province_file_adds_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    own = tmp_path / "tables.toml"
    own.write_text('[p2030]\nbands = [{ percent = "1" }]\n', encoding="utf-8")
    rules = fee_rules(
        FeesSettings(rate_tables_file=own, rate_schedule="regulation@2000-01-01,p2030@2030-01-01")
    )
    assert [table.name for _, table in rules.schedule.entries] == ["regulation", "p2030"]
