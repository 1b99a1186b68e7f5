"""R54 on every backend: PIN values are checked for format and discarded; none appears in the
stored events, the raw storage, an error, a result or a log line."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.errors import InputError
from lifecycle.errors import RuleViolation
from tests.helpers.backend import raw_storage, store_env_of
from tests.helpers.recorded_store import HANDOVER
from tests.helpers.support import Story, attempts


def test_R54_pin_values_appear_nowhere_in_storage_errors_results_or_logs(
    app: CardLifecycle, story: Story, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sig_pin, auth_pin, juki_pin, details_pin = "QZ8PX7WK3M", "4817", "5926", "3071"
    new_sig_pin, new_auth_pin, bad_sig_pin = "RX5T9V2NLQ", "6048", "zz99yy88"
    results: list[CommandResult] = []
    errors: list[str] = []

    story.apply()
    story.run(m.AcceptApplication, "2020-05-10T09:00")
    story.run(m.ProduceCard, "2020-05-15T09:00")
    pins = {"sig_pin": sig_pin, "auth_pin": auth_pin, "juki_pin": juki_pin, "card_details_pin": details_pin}
    try:
        story.run(m.HandOverCard, "2020-06-20T10:00", **HANDOVER, **{**pins, "sig_pin": bad_sig_pin})
    except ValidationError as e:
        errors += [str(e), e.json(), json.dumps(InputError.from_validation(e).as_dict())]
    try:
        story.run(m.HandOverCard, "2020-06-20T10:00", **HANDOVER, **{**pins, "juki_pin": None})
    except RuleViolation as e:
        errors += [str(e), json.dumps(e.as_dict())]
    results.append(story.run(m.HandOverCard, "2020-06-20T10:00", **HANDOVER, **pins))
    attempts(story, "auth", "xxx")
    results.append(
        story.run(cm.ResetPin, "2021-01-11T10:00", pin="auth", new_pin=new_auth_pin, channel="counter")
    )
    results.append(
        story.run(cm.ChangePin, "2021-01-12T10:00", pin="sig", new_pin=new_sig_pin, channel="home")
    )
    try:
        story.run(cm.ChangePin, "2021-01-12T11:00", pin="juki", new_pin=juki_pin, channel="home")
    except RuleViolation as e:
        errors += [str(e), json.dumps(e.as_dict())]
    results.append(
        story.run(m.ChangeCardInformation, "2021-02-01T10:00", facts=["address"], pin_confirmed=True)
    )
    results.append(
        story.run(
            cm.IssueCertificates, "2021-02-02T10:00", kinds=["SIG"], juki_pin_confirmed=True, sig_pin=sig_pin
        )
    )
    assert len(errors) == 7

    secrets = [sig_pin, new_sig_pin, bad_sig_pin]
    four_digit = [auth_pin, juki_pin, details_pin, new_auth_pin]
    stored = [n.state for n in app.recorder.select_notifications(start=1, limit=10_000)]
    assert stored, "nothing was stored: the scan would prove nothing"
    texts = [*errors, *(r.model_dump_json() for r in results), caplog.text]
    files = list(raw_storage(store_env_of(app.env)).values())
    assert files and any(b"PinsSet" in f for f in files), "the raw storage holds the events in clear"
    for secret in secrets:
        assert all(secret not in t for t in texts), secret
        assert all(secret.encode() not in s for s in stored), secret
        assert all(secret.encode() not in f for f in files), secret
    for pin in four_digit:
        # A 4-digit value may occur by chance inside ids and timestamps; as a value of its own it
        # would be a JSON string "4817" (or a number after a colon).
        for blob in [*(t.encode() for t in texts), *stored, *files]:
            assert f'"{pin}"'.encode() not in blob, pin
            assert f":{pin},".encode() not in blob, pin
            assert f":{pin}}}".encode() not in blob, pin
