"""The merged OpenAPI document holds for what the system answers: a bounded schemathesis pass
through the gateway, as a city committee's admin (not the root), every operation with a few
generated requests, then the stateful phase that chains operations by the ids they return.

Fails on any 5xx, any status the document does not list, a content type or a body that does not
match it. The admin works in a subtree of its own, so whatever it freezes or dissolves leaves the
other end-to-end tests alone.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import checks

from .conftest import Api, Running, first_login
from .test_platform import approve_admin

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
BOUNDED = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(scope="module")
def contract_admin(running: Running, root_admin: Api) -> str:
    """The access token of a city committee's admin, in a subtree no other test uses."""
    city = root_admin.create_org(
        running.bootstrap["root_org_id"], f"契约市委{uuid.uuid4().hex[:4]}"
    )
    assert city.status_code == 201, city.text
    approved = approve_admin(root_admin, city.json()["id"], f"contract{uuid.uuid4().hex[:6]}")
    admin = first_login(
        running.system.gateway_url, approved["username"], approved["initial_password"]
    )
    return str(admin.http.headers["Authorization"])


@pytest.fixture(scope="module")
def contract(running: Running) -> Any:
    return schemathesis.openapi.from_url(f"{running.system.gateway_url}/openapi.json")


def test_every_operation_answers_as_documented(
    contract: Any, running: Running, contract_admin: str
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in contract.get_all_operations()]
    assert len(operations) >= 30  # the whole API, not a document that failed to merge
    for operation in operations:

        @BOUNDED
        @given(case=operation.as_strategy())
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(
                base_url=running.system.gateway_url,
                headers={"Authorization": contract_admin},
                checks=CHECKS,
            )

        try:
            answers_as_documented()
        except (Exception, BaseExceptionGroup) as exc:  # gathered: one run reports every failure
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


def test_chained_operations_answer_as_documented(
    contract: Any, running: Running, contract_admin: str
) -> None:
    machine = contract.as_state_machine()

    class AsCityAdmin(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": running.system.gateway_url,
                "headers": {"Authorization": contract_admin},
            }

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    run_state_machine_as_test(
        AsCityAdmin,
        settings=settings(
            max_examples=5,
            stateful_step_count=5,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
