"""Bad input (issue: hypothesis-generated payloads through the command models and the CLI).

Every command model gets generated payloads mixing plausible values (application ids and card
ids of real cards in every state, valid-looking My Numbers, PINs, dates in ISO, slashes, 和暦 and
full-width digits, known and new command ids) with hostile ones (wrong types, huge strings,
unicode, negative and huge numbers, impossible and extreme dates, unknown and missing fields,
non-objects). Each payload goes through ``Model.model_validate`` and, when valid, through
``app.execute`` on a real store (the real wiring: command log, encryption). Every outcome must be
acceptance (or a duplicate's first result), ``ValidationError`` (→ ``InputError``, which must
render without echoing a My Number or PIN), ``RuleViolation``, ``InputError``/``NotFound``,
``CommandIdReused`` or ``ConcurrencyConflict`` — never another exception; a refused payload (and
a duplicate) changes neither the log's last position nor the command log. At the end the whole
store passes ``audit_store`` (versions, command log, certificate consequences).

The CLI gets generated argv for a sample of subcommands, in process (``mynacard.cli.main``):
exit codes 0, 2, 3, 4 or 5 only (argparse's ``SystemExit(2)`` counts as 2), no traceback on
stderr, nothing recorded for a non-zero exit.

Figures (quoted in the README): ``FIGURES fuzz[<backend>]: payloads=… <outcome>=…`` and
``FIGURES cli-fuzz[<backend>]: argvs=… exit_<code>=…``. At least 10,000 payloads per run
(``MYNACARD_FUZZ_PER_MODEL`` raises the per-model count).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import sys
import typing
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from commands import certificate_models as cm
from commands import models as m
from commands import pickup_models as pm
from commands.application import CardLifecycle, CommandResult
from commands.dates import format_wareki
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError, NotFound
from lifecycle.documents import CATALOGUE
from lifecycle.errors import RuleViolation
from lifecycle.identifiers import card_id_for
from mynacard import arguments, cli, output, write_commands
from mynacard.bootstrap import open_write_side
from tests.helpers import harness
from tests.helpers.backend import BACKEND, database_url

MODELS: tuple[type[m.Command], ...] = (*m.CARD_COMMANDS, *pm.PICKUP_COMMANDS, *cm.CERTIFICATE_COMMANDS)

MIN_PAYLOADS = 10_000
BATCH = 4
"""Payloads per hypothesis example (the engine's own cost per example is larger than a payload's)."""
PER_MODEL = int(os.environ.get("MYNACARD_FUZZ_PER_MODEL", str(math.ceil(MIN_PAYLOADS / len(MODELS)) + 4)))
EXAMPLES_PER_MODEL = math.ceil(PER_MODEL / BATCH)
CLI_ARGVS = int(os.environ.get("MYNACARD_FUZZ_ARGVS", "1100"))
CLI_SUBCOMMANDS = (
    "apply",
    "accept",
    "produce",
    "hand-over",
    "cancel",
    "pay-fee",
    "suspend",
    "lift-suspension",
    "change-info",
    "move-in",
    "report-loss",
    "invalidate",
    "issue-certificates",
    "revoke-certificate",
    "issue-smartphone",
    "pin-attempt",
    "reset-pin",
    "change-pin",
    "face-mode",
    "lapse",
)
NOW = datetime.fromisoformat(harness.NOW)
OUTCOMES: Counter[str] = Counter()
CLI_EXITS: Counter[Any] = Counter()
MODELS_DONE: set[str] = set()
SECRET_FIELDS = m.SECRET_FIELDS
FUZZ_SETTINGS = settings(
    database=None,
    derandomize=False,
    deadline=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
)


# ----------------------------------------------------------------------------- the world


@dataclass
class World:
    app: CardLifecycle
    data_dir: Path
    url: str | None
    refs: list[str] = field(default_factory=list)
    command_ids: list[str] = field(default_factory=list)
    serials: list[str] = field(default_factory=list)
    generation: int = 0
    strategies: dict[Any, Any] = field(default_factory=dict)

    def run(self, model: type[m.Command], **fields: Any) -> CommandResult:
        command = model.model_validate({"actor": "setup", **fields})
        self.command_ids.append(str(command.command_id))
        return self.app.execute(command)

    def add_cards(self) -> None:
        """A fresh card in every state (each model's payloads start from these)."""
        self.generation += 1
        base = 6_000_000 + 100 * self.generation
        aids = [f"{base + k:023d}" for k in range(8)]
        for k, aid in enumerate(aids[:7]):
            self.run(
                m.SubmitApplication,
                application_id=aid,
                my_number=harness.stream_my_number(base + k),
                date_of_birth="1980-10-10" if k != 5 else "2015-06-01",
                photo_taken_on="2024-12-20",
                effective_at="2025-01-06T09:00",
            )
            if k == 0:
                continue  # applied
            self.run(m.AcceptApplication, card=aid, effective_at="2025-01-15")
            self.run(m.ProduceCard, card=aid, effective_at="2025-01-20")
            if k == 1:
                continue  # produced
            pins = harness.PINS if k != 5 else {k: v for k, v in harness.PINS.items() if k != "sig_pin"}
            result = self.run(
                m.HandOverCard,
                card=aid,
                effective_at="2025-02-01T10:00",
                identity_documents=["driving_licence"],
                notification_card="collected",
                pins_set_by="holder" if k != 5 else "legal_representative",
                **pins,
            )
            self.serials += [
                self.app.load_certificate(e.aggregate_id).serial  # type: ignore[union-attr]
                for e in result.events
                if e.type == "CertificateIssued"
            ]
            if k == 3:
                self.run(m.SuspendCard, card=aid, effective_at="2025-03-01T10:00")
            if k == 4:
                self.run(
                    cm.IssueSmartphoneCertificates,
                    card=aid,
                    device="phone-1",
                    sig_pin_confirmed=True,
                    effective_at="2025-03-01T10:00",
                )
            if k == 6:
                self.run(m.ReportLoss, card=aid, police_report=True, effective_at="2025-04-01T10:00")
        self.run(
            m.SubmitApplication,
            application_id=aids[7],
            my_number=harness.stream_my_number(base + 6),
            date_of_birth="1980-10-10",
            photo_taken_on="2025-04-01",
            kind="reissue",
            reissue_reason="loss",
            previous_card=aids[6],
            effective_at="2025-04-05T09:00",
        )
        self.refs = aids + [str(card_id_for(a)) for a in aids]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("fuzz")
    url = database_url(directory)
    app = open_write_side(harness.harness_settings(directory / "data", url))
    yield World(app, directory / "data", url)
    app.close()


# ----------------------------------------------------------------------------- strategies

FULL_WIDTH = str.maketrans("0123456789-/:", "０１２３４５６７８９－／：")
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "null",
    "None",
    "NaN",
    "-1",
    "0",
    "1e309",
    "１２３４",
    "令和元年5月1日",
    "平成31年5月1日",
    "令和0年1月1日",
    "明治1年1月1日",
    "R7.13.40",
    "2025-02-29",
    "2025-02-30T25:61",
    "9999-12-31T23:59-12:00",
    "0001-01-01T00:00+14:00",
    "0001-01-01",
    "9999-12-31",
    "2025-06-01T09:00+99:00",
    "'; DROP TABLE command_log; --",
    "\u202eevil",
    "🎴🎴",
    "ﾏｲﾅﾝﾊﾞｰ",
    "1234 5678 9012",
    "x" * 100_000,
    "0" * 23,
    "9" * 23,
    "00000000-0000-0000-0000-000000000000",
]
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=30),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _era(day: date) -> str:
    for start, letter, offset in (
        (date(2019, 5, 1), "R", 2018),
        (date(1989, 1, 8), "H", 1988),
        (date(1926, 12, 25), "S", 1925),
    ):
        if day >= start:
            return f"{letter}{day.year - offset}.{day.month}.{day.day}"
    return day.isoformat()


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, by weight (``st.one_of`` drops repeated strategies, so repeating
    one there does not weigh it)."""
    return st.sampled_from([s for weight, s in options for _ in range(weight)]).flatmap(lambda s: s)


def date_texts(first: date = date(1900, 1, 1), last: date = date(2030, 12, 31)) -> st.SearchStrategy[Any]:
    return st.dates(min_value=first, max_value=last).flatmap(
        lambda d: st.sampled_from(
            [
                d.isoformat(),
                d,
                f"{d.year}/{d.month}/{d.day}",
                format_wareki(d) if d.year > 1873 else d.isoformat(),
                _era(d),
                d.isoformat().translate(FULL_WIDTH),
            ]
        )
    )


def moments(good: bool) -> st.SearchStrategy[Any]:
    """Effective times: after the world's cards were handed over and not after now (good), or
    anywhere from 1900 to 2100, in every notation (odd)."""
    if good:
        recent = st.datetimes(min_value=datetime(2025, 4, 10), max_value=NOW)
        return st.one_of(
            st.just(None),
            recent.map(lambda t: t.isoformat(timespec="minutes")),
            recent.map(lambda t: t.isoformat() + "+09:00"),
        )
    anytime = st.datetimes(min_value=datetime(2024, 6, 1), max_value=NOW + timedelta(minutes=10))
    return st.one_of(
        anytime.map(lambda t: t.isoformat() + "Z"),
        anytime.map(lambda t: f"{format_wareki(t.date())} {t.hour}:{t.minute:02d}"),
        anytime.map(lambda t: t.isoformat(timespec="minutes").translate(FULL_WIDTH)),
        date_texts(date(2024, 6, 1), date(2025, 6, 2)),
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)).map(datetime.isoformat),
    )


def my_numbers(good: bool) -> st.SearchStrategy[Any]:
    valid = st.integers(min_value=10**10, max_value=10**11 - 1).map(harness.stream_my_number)
    if good:
        return st.one_of(
            valid,
            valid.map(lambda n: f"{n[:4]} {n[4:8]} {n[8:]}"),
            valid.map(lambda n: n.translate(FULL_WIDTH)),
        )
    return st.one_of(
        valid.map(lambda n: n[:-1] + str((int(n[-1]) + 1) % 10)),  # wrong check digit
        st.text(alphabet="0123456789", min_size=11, max_size=13),
        valid.map(lambda n: n[:6] + "-" + n[6:]),
    )


def pins(name: str, good: bool) -> st.SearchStrategy[Any]:
    if good:
        if name == "sig_pin":
            return st.sampled_from(["AB12CD", "ZQ7XK9PW", "A1B2C3D4E5F6G7H8"])
        if name == "new_pin":
            return st.sampled_from(["AB12CD", "ZQ7XK9PW", "1234", "9876"])
        return st.sampled_from(["1234", "0000", "9876", "４８２１"])
    return st.one_of(
        st.sampled_from(["abc123", "12345", "ABCDEFGH", "A1", "123", "ＡＢ１２ＣＤ", "A1B2C3D4E5F6G7H8I"]),
        st.text(alphabet="0123456789ABCDEFGHJKXYZ", min_size=1, max_size=18),
    )


def card_refs(world: World, good: bool = True) -> st.SearchStrategy[Any]:
    known = st.sampled_from(world.refs)
    if good:
        return st.one_of(
            known,
            known.map(
                lambda r: " ".join(r[i : i + 4] for i in range(0, len(r), 4)) if "-" not in r else r.upper()
            ),
            known.map(lambda r: r.translate(FULL_WIDTH) if "-" not in r else r),
        )
    return st.one_of(
        st.integers(min_value=0, max_value=10**23 - 1).map(lambda n: f"{n:023d}"),
        st.uuids().map(str),
        known.map(lambda r: r[:-1]),
    )


FILER_FLAGS = (
    "same_household",
    "letter_of_delegation",
    "family_register_copy",
    "registry_certificate",
    "parent_child_on_resident_record",
    "domicile_in_municipality",
)


def filers(good: bool) -> st.SearchStrategy[Any]:
    if good:
        return st.one_of(st.just({"role": "holder"}), st.just({}))
    return st.fixed_dictionaries(
        {
            "role": st.sampled_from(
                ["holder", "household_member", "legal_representative", "agent", "neighbour"]
            )
        },
        optional=dict.fromkeys(FILER_FLAGS, st.booleans()),
    )


def documents(good: bool) -> st.SearchStrategy[Any]:
    kinds = st.sampled_from(sorted(CATALOGUE))
    if good:
        return st.one_of(st.just(["driving_licence"]), st.just(["passport:expires=2030-01-01"]))
    document = st.one_of(
        kinds,
        kinds.map(lambda k: f"{k}:expires=2025-01-01"),
        kinds.map(lambda k: f"{k}:copy:shows=name_only:photo"),
        st.fixed_dictionaries(
            {"kind": kinds}, optional={"original": st.booleans(), "expires_on": date_texts()}
        ),
    )
    return st.lists(document, max_size=3)


def _unwrap(annotation: Any) -> Any:
    inner, _ = arguments._unwrap(annotation)
    if typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    inner, _ = arguments._unwrap(inner)
    return inner


def _choices(info: FieldInfo, annotation: Any) -> tuple[str, ...] | None:
    return arguments._choices(info, annotation)


def _values(world: World, name: str, info: Any) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    if name == "command_id":
        return st.uuids().map(str), st.one_of(st.uuids(), st.sampled_from(world.command_ids))
    if name == "actor":
        return st.sampled_from(["clerk-1", "窓口 2", "kiosk-07"]), st.text(max_size=130)
    if name in {"card", "previous_card"}:
        return card_refs(world, True), card_refs(world, False)
    if name == "application_id":
        new = st.integers(min_value=10**22, max_value=10**23 - 1).map(str)
        return new, st.one_of(st.sampled_from(world.refs[:8]), new.map(lambda n: n.translate(FULL_WIDTH)))
    if name in {"my_number", "new_my_number"}:
        return my_numbers(True), my_numbers(False)
    if name in SECRET_FIELDS:
        return pins(name, True), pins(name, False)
    if name == "effective_at":
        return moments(True), moments(False)
    if name in {"identity_documents", "proxy_identity_documents"}:
        return documents(True), documents(False)
    if name in {"filed_by", "legal_representative", "proxy"}:
        return filers(True), filers(False)
    if name == "device":
        return st.sampled_from(["phone-1", "phone-2"]), st.text(min_size=1, max_size=130)
    annotation = info.annotation
    inner = _unwrap(annotation)
    choices = _choices(info, annotation)
    if inner is bool:
        return st.booleans(), st.sampled_from(["yes", "true", 1, 0, "off"])
    if inner is int:
        return st.sampled_from([100, 200, 400, 600, 800, 1000]), st.integers(-(10**6), 10**6)
    if inner is date or name.endswith("_on") or name in {"until", "new_stay_until"}:
        if name == "date_of_birth":
            good = date_texts(date(1940, 1, 1), date(2012, 12, 31))
        elif name == "photo_taken_on":
            good = date_texts(date(2025, 1, 1), date(2025, 6, 1))
        else:
            good = date_texts(date(2025, 4, 1), date(2026, 6, 1))
        return good, date_texts()
    if typing.get_origin(inner) is list:
        item = typing.get_args(inner)[0]
        item_choices = _choices(FieldInfo(annotation=item), item)
        if item_choices:
            return st.lists(st.sampled_from(item_choices), min_size=1, max_size=2), st.lists(
                st.text(max_size=10), max_size=3
            )
        return st.lists(st.text(max_size=10), max_size=3), st.lists(st.text(max_size=10), max_size=3)
    if choices:
        return st.sampled_from(choices), st.one_of(st.just(""), st.text(max_size=20))
    return st.text(min_size=1, max_size=30), st.text(max_size=130)


def field_strategies(
    world: World, model: type[m.Command]
) -> dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]]:
    """Each field's (good, plausible) strategies: a good value has the right form, names a real
    card, lies at a sensible time; a plausible one is mostly good, sometimes odd but looking
    right. Built once per model and world (building strategies costs more than drawing)."""
    key = (world.generation, model)
    if key not in world.strategies:
        out = {}
        for name, info in model.model_fields.items():
            good, odd = _values(world, name, info)
            out[name] = (good, weighted((3, good), (1, odd)))
        world.strategies[key] = out
    return world.strategies[key]


LEVELS = st.sampled_from(["clean", "clean", "plausible", "mixed", "hostile"])
MIXED = st.sampled_from(["plausible", "plausible", "plausible", "hostile", "missing"])
HOSTILE_MODE = st.sampled_from(["plausible", "hostile", "hostile", "missing"])
UNKNOWN_FIELDS = st.sampled_from(["unknown", "card_id", "My Number", "__class__", "command"])


@st.composite
def payloads(draw: st.DrawFn, world: World, model: type[m.Command]) -> Any:
    """Mostly objects of the model's fields — all good, all plausible, some hostile or missing —
    now and then with an unknown field; sometimes not an object at all."""
    if draw(st.integers(0, 39)) == 0:
        return draw(hostile)
    strategies = field_strategies(world, model)
    level = draw(LEVELS)
    payload: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        good, plausible = strategies[name]
        if level in {"clean", "plausible"}:
            if info.is_required() or draw(st.booleans()):
                payload[name] = draw(good if level == "clean" else plausible)
            continue
        mode = draw(MIXED if level == "mixed" else HOSTILE_MODE)
        if mode == "plausible":
            payload[name] = draw(plausible)
        elif mode == "hostile":
            payload[name] = draw(hostile)
    if level in {"mixed", "hostile"} and draw(st.integers(0, 9)) == 0:
        payload[draw(UNKNOWN_FIELDS)] = draw(hostile)
    return payload


# ----------------------------------------------------------------------------- one payload


def _secrets(payload: Any) -> list[str]:
    """Secret values worth looking for in an error (long enough not to occur by chance)."""
    if not isinstance(payload, dict):
        return []
    others = " ".join(str(v) for k, v in payload.items() if k not in SECRET_FIELDS)
    found = []
    for k, v in payload.items():
        if k in SECRET_FIELDS and isinstance(v, str):
            text = unicodedata.normalize("NFKC", v).replace(" ", "")
            if len(text) >= 6 and text not in others and text not in str(list(payload)):
                found.append(text)
    return found


def _rendered(e: ValidationError) -> str:
    """Everything a refusal shows: the JSON error, its text, pydantic's own text."""
    error = InputError.from_validation(e)
    return json.dumps(error.as_dict(), ensure_ascii=False) + str(error) + str(e)


def _rendered_or_empty(model: type[m.Command], payload: dict[str, Any]) -> str:
    try:
        model.model_validate(payload)
    except ValidationError as e:
        return _rendered(e)
    return ""


def submit(world: World, model: type[m.Command], payload: Any) -> str:
    """One payload through the model and, when valid, the service: its outcome's name. A payload
    the model refuses never reaches the store; one the service refuses must leave the log's last
    position and the command log as they were (checked around ``execute``, and for the model's
    refusals by ``test_every_payload…`` over the whole run)."""
    app = world.app
    try:
        command = model.model_validate(payload)
    except ValidationError as e:
        shown = _rendered(e)
        for secret in _secrets(payload):
            if secret in shown:
                # Echoed, or a word the messages use anyway ('object' in "UUID object")?
                neutral = {k: ("§" * 6 if k in SECRET_FIELDS else v) for k, v in payload.items()}
                assert secret in _rendered_or_empty(model, neutral), (
                    f"a secret of {model.COMMAND} is echoed in its error"
                )
        return "invalid"
    before = harness.log_mark(app)
    try:
        result = app.execute(command)
    except NotFound as e:
        outcome, message = "not_found", json.dumps(e.as_dict())
    except InputError as e:
        outcome, message = "input_error", json.dumps(e.as_dict())
    except RuleViolation as e:
        outcome, message = "rule_violation", json.dumps(e.as_dict())
    except CommandIdReused as e:
        outcome, message = "command_id_reused", json.dumps(e.as_dict())
    except ConcurrencyConflict as e:
        outcome, message = "conflict", json.dumps(e.as_dict())
    else:
        outcome = "duplicate" if result.duplicate else "accepted"
        message = result.model_dump_json()
    for secret in _secrets(payload):
        assert secret not in message, f"a secret of {model.COMMAND} is echoed in its answer"
    after = harness.log_mark(app)
    if outcome != "accepted":
        assert after == before, f"{outcome}: recorded something"
        return outcome
    assert after[1] == before[1] + 1, "an accepted command adds one command-log row"
    new = app.recorder.select_notifications(start=before[0], limit=1000, inclusive_of_start=False)
    assert sorted((n.originator_id, n.originator_version) for n in new) == sorted(
        (e.aggregate_id, e.version) for e in result.events
    )
    return outcome


# ----------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.COMMAND)
def test_every_payload_is_accepted_or_refused_with_a_typed_error(
    world: World, model: type[m.Command]
) -> None:
    if not world.refs or MODELS.index(model) % 3 == 0:
        world.add_cards()  # fresh cards in every state now and then (the fuzz ends many)
    start = harness.log_mark(world.app)
    outcomes: Counter[str] = Counter()

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES_PER_MODEL)
    @given(batch=st.lists(payloads(world, model), min_size=BATCH, max_size=BATCH))
    def some(batch: list[Any]) -> None:
        for payload in batch:
            outcomes[submit(world, model, payload)] += 1

    some()
    # Only accepted commands added rows: nothing refused (by the model or the service) did.
    assert harness.log_mark(world.app)[1] == start[1] + outcomes["accepted"]
    OUTCOMES.update(outcomes)
    MODELS_DONE.add(model.COMMAND)


def test_fuzz_figures_and_the_store_after_it(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """At least 10,000 payloads went through; the store they left passes the audit."""
    if len(MODELS_DONE) < len(MODELS):
        pytest.skip("run with every model's fuzz test")
    total = sum(OUTCOMES.values())
    assert total >= MIN_PAYLOADS
    assert OUTCOMES["accepted"] > 0 and OUTCOMES["invalid"] > 0
    audit = harness.audit_store(world.app)
    assert audit.problems == []
    with capsys.disabled():
        print(
            "\n"
            + harness.figures(
                f"fuzz[{BACKEND}]",
                payloads=total,
                models=len(MODELS_DONE),
                **dict(sorted(OUTCOMES.items())),
                events_checked=audit.events_checked,
            )
        )


# ----------------------------------------------------------------------------- the CLI


@functools.cache
def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: action.choices[name] for name in CLI_SUBCOMMANDS}


FIXED_OPTIONS = {"--data-dir", "--database-url", "--now", "--input", "-h", "--help"}
MODEL_BY_NAME = {model.COMMAND: model for model in MODELS}


def _as_text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


ROLES = st.sampled_from(["holder", "household_member", "legal_representative", "agent"])
JUNK_OPTIONS = st.sampled_from(["--bogus", "-x", "--", "--json=1"])


def option_strategies(world: World, name: str) -> list[tuple[argparse.Action, bool, st.SearchStrategy[Any]]]:
    """(action, required?, value strategy) of each option of the subcommand (built once)."""
    key = (world.generation, name)
    if key not in world.strategies:
        model = MODEL_BY_NAME[name]
        fields = field_strategies(world, model)
        out = []
        for action in _subparsers()[name]._actions:
            if any(o in FIXED_OPTIONS for o in action.option_strings):
                continue
            field_name = action.dest.removeprefix("f_").split("__")[0]
            info = model.model_fields.get(field_name)
            if not action.option_strings:
                value: st.SearchStrategy[Any] = weighted(
                    (6, card_refs(world)), (1, card_refs(world, False)), (1, hostile)
                )
            elif "__role" in action.dest:
                value = ROLES
            elif field_name in fields:
                value = fields[field_name][1]
            else:
                value = st.text(max_size=10)
            out.append((action, info is not None and info.is_required(), value))
        world.strategies[key] = out  # type: ignore[assignment]
    return world.strategies[key]  # type: ignore[return-value]


@st.composite
def argvs(draw: st.DrawFn, world: World, directory: Path) -> list[str]:
    name = draw(st.sampled_from(CLI_SUBCOMMANDS))
    argv = [name]
    for action, required, values in option_strategies(world, name):
        if not action.option_strings:  # the card
            argv.append(_as_text(draw(values)))
            continue
        if draw(st.integers(0, 2)) != 0 and not required:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(draw(st.sampled_from(action.option_strings)))
            continue
        if action.nargs == 0:
            argv.append(action.option_strings[0])
            continue
        value = draw(hostile) if draw(st.integers(0, 9)) == 0 else draw(values)
        repeated = isinstance(action, argparse._AppendAction) and isinstance(value, list)
        for v in value if repeated else [value]:
            argv += [draw(st.sampled_from(action.option_strings)), _as_text(v)]
    if draw(st.integers(0, 9)) == 0:
        payload = draw(payloads(world, MODEL_BY_NAME[name]))
        path = directory / f"input-{uuid4().hex}.json"
        path.write_text(json.dumps(payload, default=str, ensure_ascii=False))
        argv += ["--input", str(path)]
    if draw(st.integers(0, 19)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), draw(JUNK_OPTIONS))
    argv += ["--data-dir", str(world.data_dir), "--now", harness.NOW]
    if world.url:
        argv += ["--database-url", world.url]
    return argv


def test_cli_argvs_exit_with_a_documented_code_and_no_traceback(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.add_cards()
    monkeypatch.setenv("MYNACARD_HOLDER_KEY", harness.HOLDER_KEY_HEX)
    monkeypatch.delenv("MYNACARD_DEBUG", raising=False)
    # Test-side plumbing, not behaviour: one parser for all calls (building it takes ~35 ms);
    # one application per distinct configuration, opened by the real open_write_side the first
    # time (main() opens one per call and never closes it: a process that exits can afford that,
    # a thousand calls in one process cannot — PostgreSQL pools — and opening costs ~50 ms);
    # errors are written to the current sys.stderr (print_error binds it at import time).
    monkeypatch.setattr(cli, "build_parser", functools.cache(cli.build_parser))
    applications: dict[tuple[Any, ...], CardLifecycle] = {}
    opened: list[CardLifecycle] = []

    def open_once(settings: Any) -> CardLifecycle:
        key = (settings.effective_database_url, settings.data_dir, settings.now, settings.holder_key)
        if key not in applications:
            applications[key] = open_write_side(settings)
        opened.append(applications[key])
        return applications[key]

    monkeypatch.setattr(write_commands, "open_write_side", open_once)
    print_error = output.print_error
    monkeypatch.setattr(output, "print_error", lambda data, as_json: print_error(data, as_json, sys.stderr))

    @settings(FUZZ_SETTINGS, max_examples=CLI_ARGVS)
    @given(argv=argvs(world, tmp_path))
    def one(argv: list[str]) -> None:
        before = harness.log_mark(world.app)
        capsys.readouterr()
        try:
            code: Any = cli.main(argv)
        except SystemExit as e:  # argparse
            code = e.code
        finally:
            touched = bool(opened)  # without an application, nothing could be written
            opened.clear()
        out, err = capsys.readouterr()
        assert "Traceback" not in err + out, err
        assert code in {0, 2, 3, 4, 5}, (argv[:3], code, err[-500:])
        if code != 0 and touched:
            assert harness.log_mark(world.app) == before, (argv[:3], code)
        CLI_EXITS[code] += 1

    try:
        one()
    finally:
        for app in applications.values():
            app.close()
    assert len(applications) == 1
    total = sum(CLI_EXITS.values())
    assert total >= 1000
    assert CLI_EXITS[0] > 0 and CLI_EXITS[2] > 0
    with capsys.disabled():
        print(
            "\n"
            + harness.figures(
                f"cli-fuzz[{BACKEND}]",
                argvs=total,
                subcommands=len(CLI_SUBCOMMANDS),
                **{
                    f"exit_{k}" if isinstance(k, int) else k: v for k, v in sorted(CLI_EXITS.items(), key=str)
                },
            )
        )


def test_cli_errors_go_to_the_current_stderr(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYNACARD_HOLDER_KEY", harness.HOLDER_KEY_HEX)
    captured = io.StringIO()
    argv = ["suspend", "0" * 22, "--data-dir", str(world.data_dir), "--now", harness.NOW]
    with contextlib.redirect_stderr(captured):
        code = cli.main([*argv, "--database-url", world.url] if world.url else argv)
    assert code == 2
    assert "card" in captured.getvalue()


EXTREME_OFFSETS = ["9999-12-31T23:59-12:00", "0001-01-01T00:00+14:00"]


@pytest.mark.parametrize("text", EXTREME_OFFSETS)
def test_an_extreme_offset_is_refused_as_bad_input(text: str) -> None:
    payload = {"actor": "clerk-1", "card": "0" * 23, "effective_at": text}
    try:
        m.SuspendCard.model_validate(payload)
    except ValidationError:
        return
    except OverflowError as e:
        raise AssertionError(f"OverflowError: {e}") from e
    raise AssertionError("accepted")


@pytest.mark.parametrize("text", ["clerk\x00-1", "clerk\x1b[31m", "clerk\n1"])
def test_a_control_character_inside_a_text_field_is_bad_input_naming_the_field(text: str) -> None:
    """Found by this fuzzing on PostgreSQL: an actor with a NUL reached the database ('text
    fields cannot contain NUL'), exit 1. Every text field refuses control characters inside."""
    payload = {"actor": text, "card": "0" * 23}
    with pytest.raises(ValidationError) as refused:
        m.SuspendCard.model_validate(payload)
    error = InputError.from_validation(refused.value)
    assert [(i.field, "control character" in i.message) for i in error.issues] == [("actor", True)]


@pytest.mark.parametrize("text", ["9999-04-01", "2200-01-01", "1868-01-24", "0001-01-01T00:00"])
def test_a_date_outside_the_supported_range_is_bad_input_naming_the_field(text: str) -> None:
    """Found by this fuzzing: an application dated 9999-04-01 was accepted and producing its card
    crashed (its validity ends in year 10008). The boundary refuses what the domain cannot add
    decades to."""
    payload = {"actor": "clerk-1", "card": "0" * 23, "effective_at": text}
    with pytest.raises(ValidationError) as refused:
        m.SuspendCard.model_validate(payload)
    error = InputError.from_validation(refused.value)
    assert [(i.field, "outside the dates" in i.message) for i in error.issues] == [("effective_at", True)]


def test_the_last_supported_date_goes_through_a_whole_card_life(app: CardLifecycle, clock: Any) -> None:
    """The other side of the range: a card applied for on the last supported day is produced,
    handed over and given its certificates; its validity (R19) runs past the range, as it must."""
    from tests.helpers.support import Story

    story = Story(app, clock)
    story.to_active(
        "2199-12-01T09:00", "2199-12-10", "2199-12-20", "2199-12-31T10:00", photo_taken_on="2199-11-01"
    )
    assert story.card.status == "active"
    assert story.card.expires_on is not None and story.card.expires_on.year > 2199


@pytest.mark.parametrize("text", EXTREME_OFFSETS)
def test_an_extreme_offset_through_the_cli_is_exit_2(
    world: World, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("MYNACARD_HOLDER_KEY", harness.HOLDER_KEY_HEX)
    if not world.refs:
        world.add_cards()
    argv = ["suspend", world.refs[2], "--at", text, "--data-dir", str(world.data_dir), "--now", harness.NOW]
    assert cli.main([*argv, "--database-url", world.url] if world.url else argv) == 2
