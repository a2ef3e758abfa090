"""The console's copy of the public contract and its generated types stay what the services
publish: an API change without `make console-types` fails here, before a screen breaks."""

from __future__ import annotations

import logging

from deploy.openapi_snapshot import (
    CONSOLE_COPY,
    TYPES,
    digest,
    dumped,
    public_contract,
    stamped_digest,
)


def test_the_consoles_contract_is_the_services_contract() -> None:
    logging.disable(logging.WARNING)
    try:
        composed = dumped(public_contract())
    finally:
        logging.disable(logging.NOTSET)
    assert composed == CONSOLE_COPY.read_text(encoding="utf-8"), (
        "gateway/console/openapi.json is stale: run `make console-types`"
    )


def test_the_consoles_types_were_generated_from_that_contract() -> None:
    assert stamped_digest(TYPES) == digest(CONSOLE_COPY.read_text(encoding="utf-8")), (
        "gateway/console/src/api/schema.d.ts is stale: run `make console-types`"
    )
