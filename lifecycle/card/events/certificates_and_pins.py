"""Card events about what the card carries: its certificates (R34, R40), PINs (暗証番号,
R54–R57), the face-recognition mode (R58) and the smartphone certificates (R45–R48).

May import: the standard library and ``lifecycle.card.events.base``, ``lifecycle.card.state``.
"""

from __future__ import annotations

from uuid import UUID

from lifecycle.card.events.base import CardEvent
from lifecycle.card.state import CardState


class CertificateAdded(CardEvent):
    """A certificate was issued onto this card (R34); the card keeps track of its certificates."""

    TOPIC = "mynacard.Card.CertificateAdded"
    kind: str
    serial: str
    certificate_id: UUID

    def apply_to(self, card: CardState) -> None:
        card.certificates[self.kind] = self.certificate_id
        card.certificate_sequence[self.kind] = card.certificate_sequence.get(self.kind, 0) + 1


class CertificateWithheld(CardEvent):
    """A certificate the application asked for was not issued, and why (R40, R58)."""

    TOPIC = "mynacard.Card.CertificateWithheld"
    kind: str
    rule: str
    why: str


class PinsSet(CardEvent):
    """暗証番号設定: these PINs were set (never their values) (R54); ``set_by`` is the holder or,
    for an under-15, the legal representative (R40)."""

    TOPIC = "mynacard.Card.PinsSet"
    pins: list[str]
    set_by: str

    def apply_to(self, card: CardState) -> None:
        for pin in self.pins:
            card.pins[pin] = 0


class PinFailed(CardEvent):
    """A terminal reported a wrong PIN entry (R55); ``failures`` counts consecutive ones."""

    TOPIC = "mynacard.Card.PinFailed"
    pin: str
    failures: int

    def apply_to(self, card: CardState) -> None:
        card.pins[self.pin] = self.failures


class PinLocked(CardEvent):
    """The PIN is locked after too many wrong entries (R55: 5 for SIG, 3 for the others)."""

    TOPIC = "mynacard.Card.PinLocked"
    pin: str

    def apply_to(self, card: CardState) -> None:
        card.pins[self.pin] = -1


class PinCounterReset(CardEvent):
    """A correct entry reset the count of wrong entries (R55)."""

    TOPIC = "mynacard.Card.PinCounterReset"
    pin: str

    def apply_to(self, card: CardState) -> None:
        card.pins[self.pin] = 0


class AgentInquiryLetterSent(CardEvent):
    """照会書: an agent (or a household member) asked for certificates (R34) or a PIN reset (R56) on
    the holder's behalf; the inquiry letter goes to the holder, who answers it (回答書), and the
    agent comes back with the answer on a later day."""

    TOPIC = "mynacard.Card.AgentInquiryLetterSent"
    procedure: str
    subject: str
    filed_by: str

    def apply_to(self, card: CardState) -> None:
        card.agent_inquiries = (
            *card.agent_inquiries,
            f"{self.procedure}:{self.subject}@{self.effective_at.date().isoformat()}",
        )


class AgentInquiryAnswered(CardEvent):
    """The agent brought the holder's answer to the inquiry letter; the request was carried out."""

    TOPIC = "mynacard.Card.AgentInquiryAnswered"
    procedure: str
    subject: str

    def apply_to(self, card: CardState) -> None:
        key = f"{self.procedure}:{self.subject}@"
        card.agent_inquiries = tuple(e for e in card.agent_inquiries if not e.startswith(key))


class PinReset(CardEvent):
    """暗証番号再設定・初期化: unlocked and set anew, at the counter or a kiosk (R56)."""

    TOPIC = "mynacard.Card.PinReset"
    pin: str
    channel: str

    def apply_to(self, card: CardState) -> None:
        card.pins[self.pin] = 0


class PinChanged(CardEvent):
    """暗証番号変更 at the counter or at home (R57)."""

    TOPIC = "mynacard.Card.PinChanged"
    pin: str
    channel: str


class FaceRecognitionModeSet(CardEvent):
    """顔認証マイナンバーカード: switched to (or back from) a face-recognition card (R58)."""

    TOPIC = "mynacard.Card.FaceRecognitionModeSet"
    enabled: bool

    def apply_to(self, card: CardState) -> None:
        card.face_recognition_card = self.enabled
        if self.enabled:
            card.pins = {}


class SmartphoneRegistered(CardEvent):
    """スマホ用電子証明書: the holder's phone received smartphone certificates (R45)."""

    TOPIC = "mynacard.Card.SmartphoneRegistered"
    device: str

    def apply_to(self, card: CardState) -> None:
        card.smartphone_device = self.device
        card.smartphone_suspended = False


class SmartphoneSuspended(CardEvent):
    """スマホ用電子証明書の一時利用停止: the phone was lost (R48)."""

    TOPIC = "mynacard.Card.SmartphoneSuspended"

    def apply_to(self, card: CardState) -> None:
        card.smartphone_suspended = True


class SmartphoneSuspensionLifted(CardEvent):
    """The phone was found; SP-AUTH is restored and SP-SIG reissued (R48)."""

    TOPIC = "mynacard.Card.SmartphoneSuspensionLifted"

    def apply_to(self, card: CardState) -> None:
        card.smartphone_suspended = False


class SmartphoneRenewalRequired(CardEvent):
    """The card certificates were renewed; the smartphone ones are not renewed with them and
    must be renewed in the app (R46)."""

    TOPIC = "mynacard.Card.SmartphoneRenewalRequired"
