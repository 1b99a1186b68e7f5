"""The event version lock (issue 13): every class whose state is stored — each event topic, and
each aggregate (its read models' snapshots) — with its ``class_version`` and the fields of every
version, in ``lifecycle/event_versions.json``.

The library upcasts stored state by ``class_version`` (missing means 1): the mapper calls
``upcast_v1_v2``, ``upcast_v2_v3``, … on the stored dict of an older version before it builds
the event; a snapshot's aggregate class does the same. The lock makes that explicit and
checked (``tests/unit/test_event_versions.py``):

- a class whose fields differ from its locked version's fields without a ``class_version`` bump,
- a bumped class without an ``upcast_vN_vN+1`` for every step, or not declaring
  ``class_version`` itself (an inherited version is easy to bump by accident),
- a bump, or a new topic, not written into the lock,
- a locked topic no class has any more (its stored events could not be read)

are problems, each saying what to do. ``--update`` writes the lock after a bump or for a new
topic, and refuses to change the fields of a version already locked::

    PYTHONPATH=. .venv/bin/python -m projections.event_versions           # check
    PYTHONPATH=. .venv/bin/python -m projections.event_versions --update  # lock a bump / a new topic

The procedure for a change is docs/upcasting.md.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import pkgutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eventsourcing.domain import BaseAggregate, DomainEvent

import lifecycle

LOCK = Path(__file__).resolve().parents[1] / "lifecycle" / "event_versions.json"
UPDATE = "PYTHONPATH=. .venv/bin/python -m projections.event_versions --update"
ABOUT = [
    "The event version lock (issue 13): every stored event topic and aggregate (snapshot state),",
    "its class_version and the fields of every version. Checked by tests/unit/test_event_versions.py;",
    f"written by `{UPDATE}`, which never changes a locked version. See docs/upcasting.md.",
]
Section = Literal["events", "aggregates"]


@dataclass(frozen=True)
class Shape:
    """What a class stores now: its section, topic, class, ``class_version`` and fields."""

    section: Section
    topic: str
    cls: type[Any]
    version: int
    fields: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.cls.__module__}:{self.cls.__qualname__}"


@dataclass(frozen=True)
class Problem:
    """A difference between the classes and the lock; ``--update`` fixes the ``update`` kind."""

    kind: Literal["update", "fix"]
    topic: str
    message: str


def _subclasses(root: type[Any]) -> list[type[Any]]:
    found, todo = [], [root]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def _annotation(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "__name__", str(value))


def event_fields(cls: type[Any]) -> dict[str, str]:
    """An event's dataclass fields: ``name → type`` as written, `` = default`` when it has one."""
    out = {}
    for f in dataclasses.fields(cls):
        text = _annotation(f.type)
        if f.default is not dataclasses.MISSING:
            text += f" = {f.default!r}"
        elif f.default_factory is not dataclasses.MISSING:
            text += f" = {getattr(f.default_factory, '__name__', 'factory')}()"
        out[f.name] = text
    return out


def aggregate_fields(cls: type[Any]) -> dict[str, str]:
    """An aggregate's snapshot state: the attributes its own ``__init__`` sets (annotated, or
    typed by their initial value) and its classes' annotated defaults."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith(("eventsourcing", "builtins", "typing")):
            continue
        out.update({k: _annotation(v) for k, v in vars(klass).get("__annotations__", {}).items()})
        init = vars(klass).get("__init__")
        if init is None:
            continue
        instance = object.__new__(cls)
        init(instance)
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
        typed = {
            node.target.attr: ast.unparse(node.annotation)
            for node in ast.walk(tree)
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute)
        }
        out.update({k: typed.get(k, type(v).__name__) for k, v in vars(instance).items()})
    return dict(sorted(out.items()))


def current_shapes() -> list[Shape]:
    """Every event and aggregate class of ``lifecycle`` with its own explicit ``TOPIC``."""
    for module in pkgutil.walk_packages(lifecycle.__path__, "lifecycle."):
        importlib.import_module(module.name)
    shapes: dict[str, Shape] = {}
    for section, root in (("events", DomainEvent), ("aggregates", BaseAggregate)):
        for cls in _subclasses(root):
            if not cls.__module__.startswith("lifecycle.") or "TOPIC" not in vars(cls):
                continue
            fields = event_fields(cls) if section == "events" else aggregate_fields(cls)
            version = int(getattr(cls, "class_version", 1))
            shapes[cls.TOPIC] = Shape(section, cls.TOPIC, cls, version, fields)  # type: ignore[arg-type]
    return sorted(shapes.values(), key=lambda s: (s.section, s.topic))


def read_lock(path: Path = LOCK) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"events": {}, "aggregates": {}}


def _difference(old: dict[str, str], new: dict[str, str]) -> str:
    parts = [f"added {k}: {new[k]}" for k in new if k not in old]
    parts += [f"removed {k}: {old[k]}" for k in old if k not in new]
    parts += [f"changed {k}: {old[k]} → {new[k]}" for k in new if k in old and old[k] != new[k]]
    return "; ".join(parts)


def _fields_changed(shape: Shape, locked: dict[str, str]) -> str:
    v, cls = shape.version, shape.cls.__qualname__
    what = "event" if shape.section == "events" else "snapshot state (read models' snapshots)"
    return (
        f"{shape.topic} ({shape.name}): its fields changed but class_version is still {v} "
        f"({_difference(locked, shape.fields)}). A stored version-{v} {what} would be read into the "
        f"new shape unchanged. To fix: (1) set `class_version = {v + 1}` on {cls}; (2) add "
        f"`@staticmethod def upcast_v{v}_v{v + 1}(state: dict[str, Any]) -> None` to {cls}, turning "
        f"the stored state of version {v} into the new shape in place (e.g. set a default for each "
        f"added field); (3) run `{UPDATE}`; (4) regenerate docs/events.md; (5) add a fixture store "
        "for the new version (docs/upcasting.md). If the change was a mistake, undo it instead."
    )


def problems(lock: dict[str, Any], shapes: list[Shape]) -> list[Problem]:
    """Every difference between the classes and the lock, each saying what to do."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for s in shapes:
        seen.add((s.section, s.topic))
        entry = lock.get(s.section, {}).get(s.topic)
        cls = s.cls.__qualname__
        if s.version > 1 and "class_version" not in vars(s.cls):
            out.append(
                Problem(
                    "fix",
                    s.topic,
                    f"{s.topic} ({s.name}) inherits class_version {s.version}: declare "
                    f"`class_version = {s.version}` on {cls} itself, with its upcasters",
                )
            )
        for k in range(1, s.version):
            if not callable(getattr(s.cls, f"upcast_v{k}_v{k + 1}", None)):
                out.append(
                    Problem(
                        "fix",
                        s.topic,
                        f"{s.topic} ({s.name}) is at class_version {s.version} but has no "
                        f"`upcast_v{k}_v{k + 1}`: add `@staticmethod def upcast_v{k}_v{k + 1}(state: "
                        f"dict[str, Any]) -> None` to {cls}, turning a stored version-{k} state into "
                        f"version {k + 1}'s (the lock has version {k}'s fields)",
                    )
                )
        if entry is None:
            out.append(
                Problem(
                    "update",
                    s.topic,
                    f"{s.topic} ({s.name}) is not in the lock: run `{UPDATE}` to lock it at "
                    f"class_version {s.version}",
                )
            )
            continue
        versions = sorted(int(k) for k in entry["versions"])
        latest = versions[-1]
        if versions != list(range(1, latest + 1)):
            out.append(
                Problem("fix", s.topic, f"{s.topic}: the lock's versions {versions} are not 1…{latest}")
            )
        if s.version < latest:
            out.append(
                Problem(
                    "fix",
                    s.topic,
                    f"{s.topic} ({s.name}): class_version went down from {latest} (locked) to "
                    f"{s.version}: stored version-{latest} state could not be read; restore "
                    f"`class_version = {latest}`",
                )
            )
        elif s.version > latest:
            out.append(
                Problem(
                    "update",
                    s.topic,
                    f"{s.topic} ({s.name}) was bumped to class_version {s.version} but the lock "
                    f"ends at {latest}: run `{UPDATE}` to lock version {s.version}'s fields",
                )
            )
        elif s.fields != entry["versions"][str(latest)]["fields"]:
            out.append(Problem("fix", s.topic, _fields_changed(s, entry["versions"][str(latest)]["fields"])))
    for section in ("events", "aggregates"):
        for topic in lock.get(section, {}):
            if (section, topic) not in seen:
                out.append(
                    Problem(
                        "fix",
                        topic,
                        f"{topic} is locked but no class of lifecycle has it any more: its stored "
                        "events (or snapshots) could not be read. Keep its class (a topic never "
                        "changes) or register the topic to the class that reads it now "
                        "(`eventsourcing.utils.register_topic`)",
                    )
                )
    return out


def updated(lock: dict[str, Any], shapes: list[Shape]) -> dict[str, Any]:
    """The lock with every new topic and every bumped version added; locked versions unchanged."""
    new: dict[str, Any] = {"about": ABOUT, "events": {}, "aggregates": {}}
    for section in ("events", "aggregates"):
        new[section] = {t: dict(e) for t, e in lock.get(section, {}).items()}
    for s in shapes:
        entry = new[s.section].setdefault(s.topic, {"class": s.name, "versions": {}})
        entry["class"] = s.name
        entry["versions"] = {**entry["versions"]}
        entry["versions"].setdefault(str(s.version), {"fields": s.fields})
    for section in ("events", "aggregates"):
        new[section] = dict(sorted(new[section].items()))
    return new


def lock_text(lock: dict[str, Any]) -> str:
    return json.dumps(lock, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    shapes = current_shapes()
    lock = read_lock()
    found = problems(lock, shapes)
    to_fix = [p for p in found if p.kind == "fix"]
    if "--update" in argv:
        if to_fix:
            print("\n\n".join(p.message for p in to_fix), file=sys.stderr)
            print("\nnothing written: fix these first", file=sys.stderr)
            return 1
        LOCK.write_text(lock_text(updated(lock, shapes)))
        print(f"wrote {LOCK} ({len(shapes)} classes)")
        return 0
    if found:
        print("\n\n".join(p.message for p in found), file=sys.stderr)
        return 1
    print(f"{LOCK}: {len(shapes)} classes match their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
