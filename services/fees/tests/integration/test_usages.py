"""Using retained dues: never more than kept, even when uses race; public to the members."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date

import httpx

from fees.settings import FeesSettings

from .conftest import Tree
from .test_remittances import paid_bills

USE = {"purpose": "团员教育活动", "decided_on": "2024-09-20", "decision_ref": "团支委会〔2024〕3号"}


async def test_uses_never_exceed_what_the_organisation_kept_even_at_once(
    client: httpx.AsyncClient,
    settings: FeesSettings,
    tree: Tree,
    admin: Callable,
    member_caller: Callable,
    db,
) -> None:
    # branch_b collects 1,000 fen and keeps half; county_b receives 500 and keeps 20%: 100.
    await paid_bills(client, settings, db, admin, tree.branch_b, date(2024, 9, 1), [1_000])
    for org, parent in ((tree.branch_b, tree.county_b), (tree.county_b, None)):
        sent = await client.post(
            f"/orgs/{org}/remittances", json={"month": "2024-09"}, headers=admin(org)
        )
        assert sent.status_code == 201, sent.text
        if parent:
            receipt = f"/remittances/{sent.json()['id']}/receipt"
            assert (await client.post(receipt, headers=admin(parent))).status_code == 200
    url = f"/orgs/{tree.county_b}/fee-usages"
    answers = await asyncio.gather(
        *(
            client.post(url, json=USE | {"amount_fen": 30}, headers=admin(tree.county_b))
            for _ in range(20)
        )
    )
    assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 17
    refused = next(r for r in answers if r.status_code == 409)
    assert refused.json()["code"] == "fee.insufficient_balance"
    assert refused.json()["balance_fen"] in (10, 40, 70)

    # Members inside the county read the public record; others do not.
    listed = await client.get(url, headers=member_caller(tree.branch_b, uuid.uuid4()))
    assert listed.status_code == 200 and len(listed.json()["items"]) == 3
    outside = await client.get(url, headers=member_caller(tree.branch_a, uuid.uuid4()))
    assert outside.status_code == 403


async def test_a_use_of_nothing_or_decided_tomorrow_is_refused(
    client: httpx.AsyncClient, tree: Tree, admin: Callable
) -> None:
    url = f"/orgs/{tree.city}/fee-usages"
    zero = await client.post(url, json=USE | {"amount_fen": 0}, headers=admin(tree.city))
    assert zero.status_code == 422
    future = USE | {"amount_fen": 10, "decided_on": "2099-01-01"}
    refused = await client.post(url, json=future, headers=admin(tree.city))
    assert refused.status_code == 422 and refused.json()["code"] == "fee.decided_in_future"
    too_much = await client.post(url, json=USE | {"amount_fen": 10**9}, headers=admin(tree.city))
    assert too_much.status_code == 409 and too_much.json()["code"] == "fee.insufficient_balance"


async def test_a_remittance_its_receipt_and_a_use_sent_again_with_their_keys_happen_once(
    client: httpx.AsyncClient, settings: FeesSettings, tree: Tree, admin: Callable, db
) -> None:
    """A repeat (a client's retry, or shared.retry's second try after a connection lost at
    COMMIT) with the same Idempotency-Key gets the first answer and moves no money again."""
    month = date(2023, 5, 1)
    await paid_bills(client, settings, db, admin, tree.branch_a, month, [2_000])
    branch, county = admin(tree.branch_a), admin(tree.county_a)
    remit = {"json": {"month": "2023-05"}, "headers": branch | {"Idempotency-Key": "remit-1"}}
    url = f"/orgs/{tree.branch_a}/remittances"
    first, repeat = [await client.post(url, **remit) for _ in range(2)]
    assert first.status_code == repeat.status_code == 201, first.text
    assert repeat.json() == first.json()
    without_key = await client.post(url, json={"month": "2023-05"}, headers=branch)
    assert without_key.status_code == 409 and without_key.json()["code"] == "fee.nothing_to_remit"

    receipt = f"/remittances/{first.json()['id']}/receipt"
    keyed = county | {"Idempotency-Key": "receipt-1"}
    got, got_again = [await client.post(receipt, headers=keyed) for _ in range(2)]
    assert got.status_code == got_again.status_code == 200 and got_again.json() == got.json()

    # The branch kept half of 2,000 fen; a use of 600 sent twice is one use of 600.
    use = USE | {"amount_fen": 600}
    usages = f"/orgs/{tree.branch_a}/fee-usages"
    keyed = branch | {"Idempotency-Key": "use-1"}
    used, used_again = [await client.post(usages, json=use, headers=keyed) for _ in range(2)]
    assert used.status_code == used_again.status_code == 201, used.text
    assert used_again.json() == used.json()
    rows = await db("SELECT amount_fen FROM fee_usages WHERE org_id = :o", o=tree.branch_a)
    assert [r.amount_fen for r in rows] == [600]
    # The same key for another use is refused, not taken for the first.
    other = await client.post(usages, json=use | {"amount_fen": 100}, headers=keyed)
    assert other.status_code == 422 and other.json()["code"] == "request.idempotency_key_reused"
