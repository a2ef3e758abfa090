"""Use cases of the fees service, by topic: fee profiles (profiles.py), a new rate table's
amounts (amounts.py), the month start (cycles.py), dues lists (bills.py), payments
(payments.py) and money owed back (refunds.py), the remittance chain (remittances.py, holdings.py, walk.py), fee use (usages.py)."""

from __future__ import annotations

from fees.domain.rates import FeeRuleError
from shared.problems import Problem

PRODUCER = "fees"


def refused_by_rules(refused: FeeRuleError, field: str) -> Problem:
    """A rule's refusal as the client's 422, pointing at the field it is about."""
    return Problem(
        422, refused.code, str(refused), errors=[{"field": field, "message": str(refused)}]
    )
