"""The merged OpenAPI document holds for what the system answers: a bounded schemathesis pass
through the gateway, as a city committee's admin (not the root). Every operation goes through
schemathesis's examples, coverage and fuzzing phases (a few generated requests each), then the
stateful phase chains operations by the ids they return.

Fails on any 5xx, any status the document does not list, a content type or a body that does not
match it, a 405 that does not say which methods are allowed. The admin works in a subtree of its
own, so whatever it freezes, locks or renames leaves the other end-to-end tests alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from deploy.openapi_snapshot import CONSOLE_COPY, dumped

from .conftest import Api, Running, eventually, first_login
from .test_platform import approve_admin

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.unsupported_method,
]
BOUNDED = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

contract = schemathesis.pytest.from_fixture("contract_document")


@dataclass
class CityAdmin:
    authorization: str  # the header value
    account_id: str
    city_id: str
    # Another admin of the city: the account that freezes, unfreezes and reset codes act on.
    other_admin_id: str


@pytest.fixture(scope="module")
def city_admin(running: Running, root_admin: Api) -> CityAdmin:
    """A city committee's admin, in a subtree no other test uses."""
    city = root_admin.create_org(
        running.bootstrap["root_org_id"], f"契约市委{uuid.uuid4().hex[:4]}"
    )
    assert city.status_code == 201, city.text
    city_id = city.json()["id"]
    # The identity service learns of the new organisation from an event, within 2 s.
    eventually(lambda: root_admin.get(f"/orgs/{city_id}/security-check").status_code == 200)
    tester = approve_admin(root_admin, city_id, f"contract{uuid.uuid4().hex[:6]}")
    other = approve_admin(root_admin, city_id, f"contract{uuid.uuid4().hex[:6]}")
    admin = first_login(running.system.gateway_url, tester["username"], tester["initial_password"])
    return CityAdmin(
        str(admin.http.headers["Authorization"]),
        tester["account_id"],
        city_id,
        other["account_id"],
    )


@pytest.fixture(scope="module")
def contract_document(running: Running, city_admin: CityAdmin) -> Any:
    gateway = running.system.gateway_url
    document = schemathesis.openapi.from_url(f"{gateway}/openapi.json")
    document.config.update(
        base_url=gateway,
        headers={"Authorization": city_admin.authorization},
        # Routes on an organisation or an account act on the admin's own city and on its
        # colleague: random ids would only ever meet 404 and leave real answers unchecked.
        parameters={
            "path.org_id": city_admin.city_id,
            "path.account_id": city_admin.other_admin_id,
        },
        # Keep within the gateway's limit per account (500 a second in these tests, see
        # conftest), or most answers would be 429s and tell nothing about the operations.
        rate_limit="400/s",
    )
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 30  # the whole API, not a document that failed to merge
    return document


def not_on_itself(case: Any, admin: CityAdmin) -> None:
    """A frozen tester would see nothing but 403 from then on: an id taken from an answer (its
    own, from GET /me) goes to its colleague instead."""
    if (case.path_parameters or {}).get("account_id") == admin.account_id:
        case.path_parameters["account_id"] = admin.other_admin_id


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 names each operation's subtest through `_nodeid`, which pytest 9.2's
    # nodes no longer have.
    request.node._nodeid = request.node.nodeid


@contract.parametrize()
@BOUNDED
def test_every_operation_answers_as_documented(case: Any, city_admin: CityAdmin) -> None:
    not_on_itself(case, city_admin)
    case.call_and_validate(checks=CHECKS)


def test_chained_operations_answer_as_documented(
    contract_document: Any, city_admin: CityAdmin
) -> None:
    machine = contract_document.as_state_machine()

    class AsCityAdmin(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            not_on_itself(case, city_admin)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    AsCityAdmin.run(settings=settings(BOUNDED, max_examples=5, stateful_step_count=5))


def test_the_console_is_typed_by_the_contract_the_gateway_serves(running: Running) -> None:
    """The console's types come from gateway/console/openapi.json, composed without a running
    system: it is exactly what the gateway answers once every service is up."""

    def served() -> Any:
        document = httpx.get(f"{running.system.gateway_url}/openapi.json", timeout=30).json()
        return "x-unavailable-services" not in document and document

    assert dumped(eventually(served, within=30)) == CONSOLE_COPY.read_text(encoding="utf-8")
