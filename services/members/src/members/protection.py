"""Protection of ID numbers at rest: the sealer (encryption with rotation) and the keyed hash."""

from __future__ import annotations

from dataclasses import dataclass

from members.settings import MembersSettings
from shared.crypto import (
    CannotDecrypt,
    Sealer,
    configured_sealer,
    decode_key,
    derive_key,
    keyed_hash,
)
from shared.logging import get_logger
from shared.problems import Problem

log = get_logger(__name__)


@dataclass(frozen=True)
class IdProtection:
    sealer: Sealer
    hash_key: bytes

    def seal(self, id_number: str, member_id: bytes) -> str:
        # The member id is bound in as associated data: a sealed value copied onto another
        # record does not open there.
        return self.sealer.seal(id_number, member_id)

    def open(self, sealed: str, member_id: bytes) -> str:
        try:
            return self.sealer.open(sealed, member_id)
        except CannotDecrypt as exc:
            # A retired key still in use: an operator's mistake, never the client's.
            log.error(
                "id_number_key_unavailable",
                key_id=Sealer.key_id_of(sealed) if "." in sealed else None,
            )
            raise Problem(
                503,
                "member.key_unavailable",
                "This record is sealed with a key the service no longer has; tell the operator.",
            ) from exc

    def digest(self, id_number: str) -> str:
        return keyed_hash(self.hash_key, id_number.upper())


def id_protection(settings: MembersSettings) -> IdProtection:
    secret = settings.platform.internal_secret
    sealer = configured_sealer(
        settings.id_keys, settings.id_active_key, secret, "members/id-numbers"
    )
    hash_key = (
        decode_key(settings.id_hash_key)
        if settings.id_hash_key
        else derive_key(secret, "members/id-hash")
    )
    return IdProtection(sealer, hash_key)
