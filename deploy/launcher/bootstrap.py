"""The result line of `zhtj-identity bootstrap` and the messages shown once everything is up."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def parse_bootstrap_output(stdout: str) -> dict[str, Any]:
    """The result line of `zhtj-identity bootstrap`: the last JSON object with "created"."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "created" in value:
            return value
    raise ValueError('bootstrap printed no result line (a JSON object with "created")')


def bootstrap_message(result: Mapping[str, Any]) -> str:
    username = result.get("username") or "admin"
    root = result.get("root_org_id")
    if not result.get("created"):
        root_part = f" (root organisation id {root})" if root else ""
        return (
            f"Already bootstrapped: administrator '{username}' exists{root_part}; "
            "nothing was created."
        )
    root_part = f" (id {root})" if root else ""
    lines = [f"Bootstrapped the root organisation{root_part} and administrator '{username}'."]
    password = result.get("initial_password")
    if password:
        lines.append(f"  Initial password of '{username}': {password}")
        lines.append("  It is shown only now and must be changed at first login.")
    else:
        lines.append("  Its password is the one given in LEAGUE_ADMIN_PASSWORD.")
    return "\n".join(lines)


def ready_message(gateway: str, bootstrap: Mapping[str, Any], *, detached_log: Path | None) -> str:
    rule = "=" * 72
    how_to_stop = (
        f"`make down` stops everything (log: {detached_log})."
        if detached_log is not None
        else "Ctrl-C stops everything."
    )
    return "\n".join(
        [rule, f"智慧团建 is up: {gateway}", bootstrap_message(bootstrap), how_to_stop, rule]
    )
