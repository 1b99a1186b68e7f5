"""Fault injection on the store's keys, clock and settings (issue 8 items 1, 3, 7, 8, 9, 10).

Each test drives the real CLI in subprocesses where the fault is a process-level one (two admins
rotating keys at once, a lost key file, a clock that went back) and checks what the issue
requires: the store stays readable, nothing is written on a refusal, and the refusal is exit 6
(configuration) or 2 (bad input) naming the setting and the fix — never exit 1 or a traceback.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commands import models as m
from commands.application import CardLifecycle
from mynacard.bootstrap import open_write_side
from storage.crypto import parse_ring
from storage.keys import CIPHER_KEY_FILE, KEY_FILE
from tests.helpers import backend
from tests.helpers.backend import POSTGRES
from tests.helpers.support import Clock, Story, certificates_of, my_number

NOW = "2025-06-01T12:00"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stderr)["error"]
        return data


def cli(data_dir: Path, *args: str, now: str | None = NOW, **env: str) -> Run:
    """``python -m mynacard ... --json`` on the test's data directory and database."""
    environment = backend.cli_env(data_dir, MYNACARD_ACTOR="clerk-1")
    environment.update(env)
    extra = ["--now", now] if now else []
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json", *extra],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


def apply_args(seed: int) -> list[str]:
    return [
        "apply",
        "--application-id",
        f"{int.from_bytes(secrets.token_bytes(8), 'big') % 10**23:023d}",
        "--my-number",
        my_number(seed),
        "--date-of-birth",
        "1992-07-08",
        "--photo-taken-on",
        "2025-05-01",
    ]


def stored_positions(data_dir: Path) -> list[int]:
    """Every position of the log, every payload decoded (the ring opens all of them)."""
    app = open_write_side(backend.settings(data_dir))
    try:
        notes = app.recorder.select_notifications(start=1, limit=1_000_000)
        for note in notes:
            app.mapper.to_domain_event(note)
        return [n.id for n in notes]
    finally:
        app.close()


def event_count(data_dir: Path) -> int:
    app = open_write_side(backend.settings(data_dir))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A data directory whose store holds one card's application."""
    data_dir = tmp_path / "data"
    assert cli(data_dir, *apply_args(1)).code == 0
    return data_dir


# ----------------------------------------------------------------------------- item 1: key rotation


@pytest.mark.slow
def test_concurrent_rotations_interleaved_with_writers_lose_no_key(store: Path) -> None:
    """Issue 8 item 1: N ``rotate-key`` at once, with writers between them. Rotations are
    serialised, so the ring ends with 1 + N keys of distinct ids, the store has recorded each of
    them, and every event (written with whichever key was newest then) still decrypts."""
    rotations, writers = 6, 3
    jobs: list[list[str]] = [["rotate-key"]] * rotations + [apply_args(100 + i) for i in range(writers)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        runs = list(pool.map(lambda args: cli(store, *args), jobs))
    assert [r.code for r in runs] == [0] * len(jobs), [r.stderr for r in runs if r.code]
    ring = parse_ring((store / CIPHER_KEY_FILE).read_text())
    assert [k.key_id for k in ring] == list(range(1, rotations + 2))
    assert sorted(r.json["key_id"] for r in runs[:rotations]) == list(range(2, rotations + 2))
    assert len(stored_positions(store)) == event_count(store) >= 1 + writers
    app = open_write_side(backend.settings(store))
    try:
        assert sorted(app.command_log.recorded_keys()) == [k.key_id for k in ring]
    finally:
        app.close()


def test_a_process_started_before_a_rotation_reads_events_written_with_the_new_key(store: Path) -> None:
    """Issue 8 item 1: a long-running process holds the ring it read at start; a key another
    process's rotation added is found in the ring file when an event names it."""
    from storage.keys import rotate_key

    settings = backend.settings(store)
    early = open_write_side(settings)
    try:
        key = rotate_key(settings)
        late = open_write_side(settings)
        late.clock = Clock(NOW)
        story = Story(late, late.clock, my_number_=my_number(21))  # type: ignore[arg-type]
        story.apply(NOW, photo_taken_on="2025-05-01")
        late.close()
        head = early.recorder.max_notification_id()
        assert head is not None
        (note,) = early.recorder.select_notifications(start=head, limit=1)
        assert note.state[2:6] == key.key_id.to_bytes(4, "big")
        assert early.mapper.to_domain_event(note).originator_id == note.originator_id
    finally:
        early.close()


def test_a_ring_that_lost_a_key_the_store_recorded_is_refused(store: Path) -> None:
    """Issue 8 item 1: a key that events were written with can never disappear: a ring without it
    is a configuration error (exit 6) that names the key, and nothing is written."""
    assert cli(store, "rotate-key").code == 0
    assert cli(store, *apply_args(2)).code == 0  # written with key 2
    ring_file = store / CIPHER_KEY_FILE
    full = ring_file.read_text()
    ring_file.write_text(full.splitlines()[0] + "\n")
    before = event_count_raw(store)
    refused = cli(store, *apply_args(3))
    assert refused.code == 6
    assert "lacks key 2" in refused.error["message"]
    assert event_count_raw(store) == before
    ring_file.write_text(full)
    assert cli(store, *apply_args(3)).code == 0


def test_a_ring_key_replaced_by_another_with_the_same_id_is_refused(store: Path) -> None:
    """Issue 8 items 1 and 3: the store recorded key 1's fingerprint; another key under id 1
    (a ring from another store, a hand-edited file) is refused before anything is written."""
    ring_file = store / CIPHER_KEY_FILE
    original = ring_file.read_text()
    other = base64_key()
    ring_file.write_text(f"1:{other}\n")
    refused = cli(store, "status", "00000000000000000000001")
    assert refused.code == 6
    assert "key 1" in refused.error["message"] and "restore" in refused.error["message"]
    ring_file.write_text(original)


def base64_key() -> str:
    import base64

    return base64.b64encode(secrets.token_bytes(32)).decode()


def event_count_raw(data_dir: Path) -> int:
    """The number of stored events, read without the keys (the store's own tables)."""
    app = CardLifecycle(env=backend.store_env_of(open_env(data_dir)), holder_key=b"")
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def open_env(data_dir: Path) -> dict[str, str]:
    from storage.settings import storage_env

    return storage_env(backend.settings(data_dir))


# ----------------------------------------------------------------------------- item 3: holder key


@pytest.mark.parametrize("fault", ["missing", "truncated", "different", "short", "a directory"])
def test_a_holder_key_that_is_not_the_stores_own_is_refused(store: Path, fault: str) -> None:
    """Issue 8 item 3: the store records its holder key's fingerprint when it is created; a
    missing, truncated, different or short key file is exit 6 naming the file and the fix, and
    nothing is written (a missing key is not silently made anew)."""
    path = store / KEY_FILE
    original = path.read_text().strip()
    if fault == "missing":
        path.unlink()
    elif fault == "truncated":
        path.write_text(original[:40] + "\n")
    elif fault == "different":
        path.write_text(secrets.token_hex(32) + "\n")
    elif fault == "short":
        path.write_text(original[:8] + "\n")
    else:
        path.unlink()
        path.mkdir()
    before = event_count_raw(store)
    refused = cli(store, *apply_args(5))
    assert refused.code == 6, refused.stderr
    message = refused.error["message"]
    assert KEY_FILE in message
    assert any(word in message for word in ("restore", "permissions")), message
    assert event_count_raw(store) == before
    if fault == "missing":
        assert not path.exists(), "a missing holder key must not be made anew for a store with events"


def test_a_configured_holder_key_that_is_not_the_stores_own_is_refused(store: Path) -> None:
    """Issue 8 item 3: the same for ``MYNACARD_HOLDER_KEY``."""
    refused = cli(store, *apply_args(6), MYNACARD_HOLDER_KEY=secrets.token_hex(32))
    assert refused.code == 6
    assert "MYNACARD_HOLDER_KEY" in refused.error["message"]


def test_the_stores_own_keys_open_it_and_person_finds_the_card(store: Path) -> None:
    """Issue 8 item 3: with its own key the store answers `person` (the control for the above)."""
    found = cli(store, "person", my_number(1))
    assert found.code == 0, found.stderr
    assert len(found.json["cards"]) == 1


# ----------------------------------------------------------------------------- item 7: R66


def test_R66_a_clock_behind_the_newest_event_beyond_the_tolerance_is_refused(store: Path) -> None:
    """Issue 8 item 7 / R66: newest event recorded at 12:00; a command with the clock at 11:00
    is exit 6 and writes nothing; at 11:59:58 (within 5 s) it is recorded just after 12:00."""
    before = event_count_raw(store)
    refused = cli(store, *apply_args(7), now="2025-06-01T11:00")
    assert refused.code == 6
    assert "R66" in refused.error["message"]
    assert event_count_raw(store) == before
    done = cli(store, *apply_args(8), now="2025-06-01T11:59:58")
    assert done.code == 0, done.stderr
    card = done.json["application_id"]
    history = cli(store, "history", card)
    assert history.code == 0
    assert {e["recorded_at"] for e in history.json} == {"2025-06-01T12:00:00.000001+09:00"}


def test_R66_a_tolerance_setting_widens_the_window(store: Path) -> None:
    """R66: the tolerance is a setting (MYNACARD_CLOCK_TOLERANCE, seconds)."""
    assert cli(store, *apply_args(9), now="2025-06-01T11:59:00").code == 6
    widened = cli(store, *apply_args(9), now="2025-06-01T11:59:00", MYNACARD_CLOCK_TOLERANCE="120")
    assert widened.code == 0, widened.stderr


def test_audit_replay_answers_on_a_log_whose_clock_went_back(tmp_path: Path) -> None:
    """Issue 8 item 7: a log written before R66 with a clock that went back (12:00, then 09:00)
    must never make status / history / valid-at --as-known-at exit 1, for any S in between."""
    data_dir = tmp_path / "data"
    app = open_write_side(backend.settings(data_dir))
    app.clock_tolerance = None  # a log written before R66 existed
    clock = Clock()
    app.clock = clock
    story = Story(app, clock, my_number_=my_number(11))
    story.to_active(
        "2025-05-01T12:00", "2025-05-02", "2025-05-03", "2025-05-10T12:00", photo_taken_on="2025-04-01"
    )
    serial = next(c.serial for c in certificates_of(app, story.card) if c.kind == "AUTH")
    story.run(m.SuspendCard, "2025-05-10T09:00")
    card = story.application_id
    app.close()
    for known_at in ("2025-05-10T08:00", "2025-05-10T09:00", "2025-05-10T10:00", "2025-05-10T12:00"):
        for args in (
            ("status", card, "--as-known-at", known_at),
            ("history", card, "--as-known-at", known_at),
            ("valid-at", serial, "--at", "2025-05-10T11:00", "--as-known-at", known_at),
        ):
            run = cli(data_dir, *args, now="2025-06-01T09:00")
            assert run.code == 0, (args, run.stderr)


# ----------------------------------------------------------------------------- item 8: sweep


def test_a_sweep_rerun_by_another_actor_on_the_same_day_is_a_noop(store: Path) -> None:
    """Issue 8 item 8: the sweep's command id is (card, day); whoever runs it again gets exit 0
    and nothing new."""
    first = cli(store, "sweep", "--actor", "night-batch")
    assert first.code == 0, first.stderr
    before = event_count_raw(store)
    again = cli(store, "sweep", "--actor", "clerk-2")
    assert again.code == 0, again.stderr
    assert again.json["commands_run"] == 0
    assert again.json["already_done"] == first.json["cards_swept"]
    assert event_count_raw(store) == before


# ----------------------------------------------------------------------------- item 9: SQLite URLs


@pytest.mark.parametrize(
    "url",
    [
        "sqlite::memory:",
        "sqlite:file::memory:?cache=shared",
        "sqlite:///:memory:",
        "sqlite://host/x.sqlite",
        "sqlite:///file:x?mode=memory",
        "sqlite:///",
    ],
)
def test_sqlite_urls_that_keep_nothing_or_write_elsewhere_are_refused(tmp_path: Path, url: str) -> None:
    """Issue 8 item 9: in-memory stores and URLs with a host are refused (exit 6), nothing is made."""
    data_dir = tmp_path / "data"
    refused = cli(data_dir, *apply_args(12), MYNACARD_DATABASE_URL=url)
    assert refused.code == 6, refused.stderr
    assert "MYNACARD_DATABASE_URL" in refused.error["message"]
    assert not Path("/x.sqlite").exists() and not Path("/:memory:").exists()


def test_a_relative_sqlite_path_lies_in_the_data_directory(tmp_path: Path) -> None:
    """Issue 8 item 9: ``sqlite:///name.sqlite`` is the data directory's ``name.sqlite``."""
    data_dir = tmp_path / "data"
    done = cli(data_dir, *apply_args(13), MYNACARD_DATABASE_URL="sqlite:///relative-store.sqlite")
    assert done.code == 0, done.stderr
    assert (data_dir / "relative-store.sqlite").exists()
    assert not Path("/relative-store.sqlite").exists()


# ----------------------------------------------------------------------------- item 10: clear errors

PG = "postgresql://127.0.0.1"
CONFIGURATION_FAULTS: list[tuple[str, dict[str, str], str]] = [
    ("policies not JSON", {"MYNACARD_POLICIES": "notjson"}, "MYNACARD_POLICIES"),
    (
        "policy out of range",
        {"MYNACARD_POLICIES__UNCOLLECTED_MONTHS_AFTER_NOTICE": "100000"},
        "MYNACARD_POLICIES",
    ),
    ("key id beyond 2^32", {"MYNACARD_CIPHER_KEYS": f"4294967296:{'A' * 43}="}, "MYNACARD_CIPHER_KEYS"),
    ("clock tolerance not finite", {"MYNACARD_CLOCK_TOLERANCE": "inf"}, "MYNACARD_CLOCK_TOLERANCE"),
    ("data dir is a file", {"MYNACARD_DATA_DIR": "/etc/hostname"}, "MYNACARD_DATA_DIR"),
    ("data dir under a file", {"MYNACARD_DATA_DIR": "/etc/hostname/sub"}, "MYNACARD_DATA_DIR"),
    ("bad port", {"MYNACARD_DATABASE_URL": PG + ":99999/test"}, "port"),
    ("bad pool size", {"MYNACARD_DATABASE_URL": PG + "/test?pool_size=0"}, "pool_size"),
    (
        "bad lock timeout",
        {"MYNACARD_DATABASE_URL": PG + "/test?lock_timeout=x"},
        "lock_timeout",
    ),
    (
        "mixed-case schema",
        {"MYNACARD_DATABASE_URL": PG + "/test?schema=MixedCase"},
        "schema",
    ),
    ("schema with a space", {"MYNACARD_DATABASE_URL": PG + "/test?schema=a%20b"}, "schema"),
    ("schema with a quote", {"MYNACARD_DATABASE_URL": PG + '/test?schema=a"b'}, "schema"),
    ("unknown parameter", {"MYNACARD_DATABASE_URL": PG + "/test?sslmode=x"}, "sslmode"),
    ("unreachable server", {"MYNACARD_DATABASE_URL": PG + ":1/test"}, "refused"),
]


@pytest.mark.parametrize(
    ("fault", "env", "named"), CONFIGURATION_FAULTS, ids=[f[0] for f in CONFIGURATION_FAULTS]
)
def test_configuration_faults_are_exit_6_naming_the_setting(
    tmp_path: Path, fault: str, env: dict[str, str], named: str
) -> None:
    """Issue 8 item 10: each is exit 6 with a message naming the setting — never exit 1."""
    run = cli(tmp_path / "data", *apply_args(14), **env)
    assert run.code == 6, (fault, run.stderr)
    assert named in run.error["message"], run.error


def test_a_refused_schema_name_creates_nothing(tmp_path: Path) -> None:
    """Issue 8 item 10: a schema name that is not a plain identifier is refused before any DDL."""
    if not POSTGRES:
        pytest.skip("PostgreSQL schemas")
    import psycopg

    cli(tmp_path / "data", "counts", MYNACARD_DATABASE_URL=PG + "/test?schema=Bad%20Name")
    with psycopg.connect(backend.TEST_DATABASE_URL) as conn:
        found = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname ILIKE 'bad%'").fetchone()
    assert found is not None and found[0] == 0


def test_an_unreadable_key_ring_is_exit_6_naming_the_file(store: Path) -> None:
    """Issue 8 item 10: a key file that cannot be read is exit 6 naming it."""
    ring = store / CIPHER_KEY_FILE
    ring.rename(store / "ring.bak")
    ring.mkdir()
    run = cli(store, "counts")
    assert run.code == 6
    assert CIPHER_KEY_FILE in run.error["message"]


def test_a_full_or_read_only_store_is_a_configuration_error_not_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 10: a store that refuses writes (disk full, read-only) is exit 6 with the
    database's reason, not exit 5 'send the same command again'; nothing is written."""
    from commands.application import StoreUnwritable
    from mynacard.cli import EXIT_CONFIG

    data_dir = tmp_path / "data"
    settings = backend.settings(data_dir)
    app = open_write_side(settings)
    clock = Clock("2025-06-01T09:00")
    app.clock = clock
    story = Story(app, clock, my_number_=my_number(15))
    story.apply("2025-06-01T09:00", photo_taken_on="2025-05-01")
    make_read_only(app)
    before = app.recorder.max_notification_id()
    with pytest.raises(StoreUnwritable) as refused:
        story.run(m.AcceptApplication, "2025-06-01T10:00")
    assert "nothing was recorded" in str(refused.value)
    assert EXIT_CONFIG == 6
    app.close()
    assert event_count(data_dir) == before


def make_read_only(app: CardLifecycle) -> None:
    """The store refuses writes from now on with the database's own error: SQLite's read-only
    connections (``query_only``), PostgreSQL's ``disk_full`` (SQLSTATE 53100) from a trigger."""
    datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
    if POSTGRES:
        with datastore.transaction(commit=True) as curs:
            curs.execute(
                f"CREATE FUNCTION {datastore.schema}.disk_full() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = 'disk_full'; "
                "END $$ LANGUAGE plpgsql"
            )
            curs.execute(
                f"CREATE TRIGGER disk_is_full BEFORE INSERT ON {datastore.schema}.mynacard_events "
                f"FOR EACH ROW EXECUTE FUNCTION {datastore.schema}.disk_full()"
            )
        return
    pool = datastore.pool
    original = pool._create_connection

    def read_only() -> Any:
        connection = original()
        connection._sqlite_conn.execute("PRAGMA query_only = ON")
        return connection

    pool._create_connection = read_only
    for connection in list(pool._pool):
        connection._sqlite_conn.execute("PRAGMA query_only = ON")


def test_R66_writers_racing_on_one_store_record_times_in_log_order(tmp_path: Path) -> None:
    """Issue 8 item 7 / R66 under concurrency: applications (each with its own cache of the newest
    recorded time) write at once on a fixed clock; along the log, recorded time never goes back
    (a save stamped before the store's clock row is a conflict, stamped again)."""
    import threading

    data_dir = tmp_path / "data"
    settings = backend.settings(data_dir, now=NOW)
    apps = [open_write_side(settings) for _ in range(4)]
    barrier = threading.Barrier(len(apps))
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(6):
                story = Story(apps[n], apps[n].clock, my_number_=my_number(1000 + 10 * n + i))  # type: ignore[arg-type]
                story.app.execute(
                    m.SubmitApplication.model_validate(
                        {
                            "application_id": story.application_id,
                            "my_number": story.my_number,
                            "date_of_birth": "1980-10-10",
                            "photo_taken_on": "2025-05-01",
                            "actor": f"writer-{n}",
                        }
                    )
                )
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(apps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert failures == []
        notes = apps[0].recorder.select_notifications(start=1, limit=10_000)
        times = [apps[0].mapper.to_domain_event(n).timestamp for n in notes]  # type: ignore[attr-defined]
        assert len(times) >= 24
        assert times == sorted(times), "a recorded time went back along the log"
    finally:
        for app in apps:
            app.close()
