"""Configuration: where the data lives, which database, which policies, which clock.

Everything comes from ``MYNACARD_*`` environment variables (pydantic-settings), overridable by
CLI options. Defaults: a SQLite file in the data directory (created on first use), the spec's
policies, the system clock.

| variable | default | meaning |
|---|---|---|
| ``MYNACARD_DATA_DIR`` | ``$XDG_DATA_HOME/mynacard`` (``~/.local/share/mynacard``) | data directory |
| ``MYNACARD_DATABASE_URL`` | ``sqlite:///<data dir>/mynacard.sqlite`` | the event store |
| ``MYNACARD_HOLDER_KEY`` | a key file created in the data directory | key of the holder hash (hex) |
| ``MYNACARD_CIPHER_KEYS`` | ``cipher.keys`` in the data directory (0600) | encryption key ring |
| ``MYNACARD_NOW`` | the system clock | fix the current time (reproducible scripts) |
| ``MYNACARD_ACTOR`` | the login name | who records commands |
| ``MYNACARD_OFFICE`` | none | the office (窓口) of a hand-over that names none (else ``(not recorded)``) |
| ``MYNACARD_POLICIES__<NAME>`` | the spec's decisions | e.g. ``MYNACARD_POLICIES__FEB29_BIRTHDAY=mar1`` |
| ``MYNACARD_CLOCK_TOLERANCE`` | 5 | seconds the clock may lag the newest recorded event (R66) |
| ``MYNACARD_ISSUER_CERT`` | ``issuer.pem``: a test CA in the data directory | CRL/OCSP issuer (PEM or DER) |
| ``MYNACARD_ISSUER_KEY`` | ``issuer.key`` in the data directory (0600) | its signing key (unencrypted) |
| ``MYNACARD_SIGNING_KEY`` | ``log-signing.key`` in the data dir (0600) | Ed25519 key: checkpoints, receipts |
| ``MYNACARD_CRL_VALIDITY`` | 86400 | seconds from a CRL's thisUpdate to its nextUpdate |
| ``MYNACARD_OCSP_VALIDITY`` | 3600 | seconds from an OCSP answer's thisUpdate to its nextUpdate |
| ``MYNACARD_CONSUMER_ATTEMPTS`` | 5 | deliveries to a failing consumer handler before the event is parked |
| ``MYNACARD_CONSUMER_BACKOFF`` | 0.5 | seconds before a handler's 2nd attempt, doubled after each failure |
| ``MYNACARD_FEED_HEARTBEAT`` | 15 | seconds of silence after which ``GET /events`` sends a heartbeat |
| ``MYNACARD_FEED_POLL_INTERVAL`` | 0.5 | seconds between the feed's polls of the log (SQLite) |
| ``MYNACARD_FEED_BATCH`` | 100 | events the feed reads and sends at most in one go |
| ``MYNACARD_SLO_OCSP_SECONDS``, ``…_RATIO`` | 5, 0.99 | 99 % of revocations served by OCSP within 5 s |
| ``MYNACARD_SLO_CONSUMER_SECONDS`` | 60 | every named consumer acknowledges a revocation within 60 s |

SQLite URLs: ``sqlite:////absolute/path.sqlite`` (four slashes) or ``sqlite:///name.sqlite`` /
``sqlite:name.sqlite`` (relative: resolved against the data directory). In-memory databases and
URLs with a host are refused: the CLI would acknowledge commands and keep nothing.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from commands.fields import InputDateTime
from lifecycle.decisions import Policies


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mynacard"


class Settings(BaseSettings):
    """mynacard's settings (see the module docstring for the variables)."""

    model_config = SettingsConfigDict(env_prefix="MYNACARD_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    holder_key: SecretStr | None = None
    cipher_keys: SecretStr | None = None
    """The encryption key ring, ``id:base64,…`` newest last (default: the ring file)."""
    now: InputDateTime | None = None
    actor: str | None = None
    office: str | None = Field(None, min_length=1, max_length=40)
    """The office (窓口 / 事務所) this service records at: a hand-over's ``Issued.office`` when the
    command names none (then ``(not recorded)`` without this setting; issue 13)."""
    policies: Policies = Field(default_factory=Policies)
    clock_tolerance: float = Field(5.0, ge=0, le=3600, allow_inf_nan=False)
    """R66: seconds the clock may lag behind the newest recorded event before writes are refused."""
    issuer_cert: Path | None = None
    """The operator's CRL/OCSP issuer certificate; with ``issuer_key``, else a test CA (``mynacard.pki``)."""
    issuer_key: Path | None = None
    """The operator's signing key of ``issuer_cert``; both or neither are set."""
    signing_key: Path | None = None
    """The log signing key (Ed25519, PEM or DER) of checkpoints and receipts (issue 13); default:
    ``log-signing.key`` in the data directory, made on first use (``mynacard.integrity.signing``)."""
    crl_validity: float = Field(86400.0, gt=0, le=366 * 86400, allow_inf_nan=False)
    """Seconds from a CRL's thisUpdate to its nextUpdate (RFC 5280 §5.1.2.5)."""
    ocsp_validity: float = Field(3600.0, gt=0, le=366 * 86400, allow_inf_nan=False)
    """Seconds from an OCSP answer's thisUpdate to its nextUpdate (RFC 6960 §4.2.2.1)."""
    consumer_attempts: int = Field(5, ge=1, le=100)
    """Deliveries of one event to a failing consumer handler before it is parked (dead letter)."""
    consumer_backoff: float = Field(0.5, ge=0, le=60, allow_inf_nan=False)
    """Seconds before a failing handler's second attempt; doubled after each failure (≤ 60 s)."""
    feed_heartbeat: float = Field(15.0, ge=0.05, le=3600, allow_inf_nan=False)
    """Seconds without an event after which the SSE feed sends a heartbeat comment."""
    feed_poll_interval: float = Field(0.5, ge=0.01, le=60, allow_inf_nan=False)
    """Seconds between the SSE feed's looks at the log (SQLite; PostgreSQL's NOTIFY wakes it)."""
    slo_ocsp_seconds: float = Field(5.0, gt=0, le=86400, allow_inf_nan=False)
    """The revocation objective: a revocation is served by OCSP within this many seconds …"""
    slo_ocsp_ratio: float = Field(0.99, gt=0, le=1, allow_inf_nan=False)
    """… for at least this share of revocations (``mynacard latency``, ``/readyz``)."""
    slo_consumer_seconds: float = Field(60.0, gt=0, le=86400, allow_inf_nan=False)
    """Every named consumer acknowledges every revocation within this many seconds."""
    feed_batch: int = Field(100, ge=1, le=10_000)
    """Events the SSE feed reads and sends at most in one go (then it reads again)."""
    checkpoint_interval: float = Field(300.0, ge=0, le=7 * 86400, allow_inf_nan=False)
    """Seconds between the service's signed checkpoints of the hash chain (issue 13), made only
    when the log grew since the last one; 0: the service makes none (``mynacard checkpoint``)."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return Path(os.path.abspath(value.expanduser()))

    @field_validator("issuer_cert", "issuer_key", "signing_key")
    @classmethod
    def _absolute_file(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(os.path.abspath(value.expanduser()))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'mynacard.sqlite'}"

    def default_actor(self) -> str:
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def clock_for(settings: Settings) -> Callable[[], datetime] | None:
    """A fixed clock when ``MYNACARD_NOW`` is set, else None (the system clock)."""
    if settings.now is None:
        return None
    fixed = settings.now
    return lambda: fixed
