"""The mapper of the event store: every payload is bound to its row (issue 8 item 6).

Payloads are transcoded, compressed, then encrypted with the key ring (``storage.crypto``) with
AES-GCM *associated data* naming the row the payload belongs to::

    aad = b"mynacard/1\\x00"
          + originator id as the 16 bytes of its UUID
          + originator version as 8 bytes, big-endian, unsigned
          + topic in UTF-8

(``payload_aad``; the prefix versions the layout, the topic is last, so the byte string is
unambiguous). A payload copied onto another aggregate's row, onto another version of the same
aggregate, or read under another topic fails the GCM check, and so does a row whose id, version
or topic column was changed. The same holds for the read models' snapshots, which go through this
mapper with their view row's id, version and topic (``projections.views``).

Reading: a bound payload that fails its check under the key that made it raises
``storage.integrity.TamperingDetected`` (a ``MapperDeserialisationError``) naming the row; so does
an old unbound (``MK``) payload that fails its check. A key that is not in the ring, or a ring key
that is not the one that made the payload, stays a configuration problem: a
``MapperDeserialisationError`` caused by ``CipherKeyError``. Never garbage.

Upgrade path: payloads written before this mapper (``MK``) are read unbound, as before; every
payload written since is bound (``MB``). See ``storage.crypto``.

Erasable personal fields (issue 13): with a ``storage.erasable.PersonalFieldCipher`` attached
(``attach_personal``), the personal fields of each event and snapshot are sealed under their
person's data key before the payload is transcoded and encrypted, and opened after it is read.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    Notification,
    StoredEvent,
    Transcoder,
)

from storage.crypto import CipherKeyError, KeyRingCipher, PayloadAuthenticationError
from storage.erasable import PersonalFieldCipher
from storage.integrity import TamperingDetected

AAD_PREFIX = b"mynacard/1\x00"


def payload_aad(originator_id: UUID | str, originator_version: int, topic: str) -> bytes:
    """The associated data that binds a payload to its row (see the module docstring)."""
    uuid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    return AAD_PREFIX + uuid.bytes + originator_version.to_bytes(8, "big") + topic.encode("utf-8")


def describe_row(stored: StoredEvent) -> str:
    """The row of a stored payload, for error messages: its notification position when it is
    one, its topic, originator id and version."""
    where = f"at position {stored.id} " if isinstance(stored, Notification) else ""
    return (
        f"the stored payload {where}(topic {stored.topic!r}, originator id {stored.originator_id}, "
        f"version {stored.originator_version})"
    )


class BoundMapper(Mapper[UUID]):
    """The library's mapper (compress, then encrypt with the key ring), each payload bound to
    its row by AES-GCM associated data. Without a key ring cipher, the library's mapper."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor, cipher)
        self._ring = cipher if isinstance(cipher, KeyRingCipher) else None
        self._plain: Mapper[UUID] = Mapper(transcoder, compressor)
        """Transcodes and compresses; the encryption is done here, with the row's data."""
        self.personal: PersonalFieldCipher | None = None
        """Seals and opens personal fields under their person's key (issue 13), once attached."""

    @property
    def ring(self) -> KeyRingCipher | None:
        return self._ring

    def attach_personal(self, personal: PersonalFieldCipher) -> None:
        self.personal = personal

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if self._ring is None:
            return super().to_stored_event(domain_event)
        if self.personal is not None:
            domain_event = self.personal.seal(domain_event)
        plain = self._plain.to_stored_event(domain_event)
        aad = payload_aad(plain.originator_id, plain.originator_version, plain.topic)
        return StoredEvent(
            originator_id=plain.originator_id,
            originator_version=plain.originator_version,
            topic=plain.topic,
            state=self._ring.encrypt(plain.state, aad),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        event = self.to_sealed_event(stored_event)
        return event if self.personal is None else self.personal.open(event)

    def to_sealed_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The domain event with its personal fields as stored (envelopes not opened)."""
        if self._ring is None:
            return super().to_domain_event(stored_event)
        try:
            aad = payload_aad(stored_event.originator_id, stored_event.originator_version, stored_event.topic)
        except (ValueError, OverflowError, TypeError) as e:
            raise TamperingDetected(
                f"{describe_row(stored_event)} has a malformed originator id or version ({e}): "
                "the row was altered (possible tampering)"
            ) from e
        try:
            state = self._ring.decrypt(stored_event.state, aad)
        except PayloadAuthenticationError as e:
            unbound = (
                ""
                if e.bound
                else f" (it predates row binding, so key {e.key_id} of the ring being the wrong key "
                "is also possible)"
            )
            raise TamperingDetected(
                f"{describe_row(stored_event)} fails its authenticity check: the row was altered or "
                f"its payload was moved from another row (possible tampering){unbound}: {e}"
            ) from e
        except CipherKeyError as e:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of {describe_row(stored_event)}: {e}"
            ) from e
        return self._plain.to_domain_event(
            StoredEvent(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                topic=stored_event.topic,
                state=state,
            )
        )
