"""The import contract of the packages (issue 9), checked on the source, in CI:

| package | may import (besides itself, the standard library and third-party packages) |
|---|---|
| ``lifecycle`` | nothing of the project: the domain is pure |
| ``storage`` | ``lifecycle`` |
| ``commands`` (write side) | ``lifecycle``, ``storage`` |
| ``projections`` (read side) | ``lifecycle``, ``storage`` — never the write side |
| ``mynacard`` (entry points, composition root) | everything |

and no import cycle among the project's modules (imports run at module load; imports inside
functions and under ``TYPE_CHECKING`` are not part of the load order and are not counted for
cycles, but they are for the contract).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lifecycle", "storage", "commands", "projections", "mynacard")
ALLOWED: dict[str, set[str]] = {
    "lifecycle": set(),
    "storage": {"lifecycle"},
    "commands": {"lifecycle", "storage"},
    "projections": {"lifecycle", "storage"},
    "mynacard": {"lifecycle", "storage", "commands", "projections"},
}


def modules(root: Path) -> dict[str, Path]:
    """Module name → file, for every module of the project's packages under ``root``."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at load time) for every import of a module. ``from p import m``
    of a submodule ``m`` depends on ``p.m``, not on the names ``p/__init__`` re-exports."""
    tree = ast.parse(path.read_text(), str(path))
    lazy_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            lazy_lines.update(n.lineno for n in ast.walk(node) if hasattr(n, "lineno"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, node.lineno not in lazy_lines
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            if len(submodules) < len(node.names):
                yield target, node.lineno, node.lineno not in lazy_lines
            for submodule in submodules:
                yield submodule, node.lineno, node.lineno not in lazy_lines


def violations(root: Path) -> list[str]:
    """Every wrong-way import and every import cycle under ``root``."""
    found = modules(root)
    problems = []
    graph: dict[str, set[str]] = {m: set() for m in found}
    for name, path in found.items():
        owner = name.split(".")[0]
        for target, line, at_load in imports(path, name, set(found)):
            top = target.split(".")[0]
            if top in PACKAGES and top != owner and top not in ALLOWED[owner]:
                problems.append(f"{path.relative_to(root)}:{line}: {owner} must not import {target}")
            if at_load and target in found and target != name:
                graph[name].add(target)
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_packages_import_only_what_the_contract_allows_and_nothing_cycles() -> None:
    problems = violations(ROOT)
    assert not problems, "\n".join(problems)


def test_no_module_is_over_500_lines() -> None:
    """Issue 9: a module a newcomer can read (tests and benchmarks aside)."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in modules(ROOT).values()
        if (n := len(path.read_text().splitlines())) > 500
    }
    assert not long, long


def test_the_contract_refuses_a_wrong_way_import_and_a_cycle(tmp_path: Path) -> None:
    """The checker itself: a read side importing the write side, the domain importing storage,
    and two modules importing each other are all reported."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "projections" / "view.py").write_text("from commands.application import CardLifecycle\n")
    (tmp_path / "lifecycle" / "card.py").write_text("import storage.sqlite\nfrom lifecycle import events\n")
    (tmp_path / "lifecycle" / "events.py").write_text("from lifecycle.card import Card\n")
    (tmp_path / "commands" / "ok.py").write_text(
        "from lifecycle.card import Card\nfrom storage import x\n\ndef f():\n    from mynacard import cli\n"
    )
    problems = violations(tmp_path)
    assert any("projections must not import commands.application" in p for p in problems), problems
    assert any("lifecycle must not import storage.sqlite" in p for p in problems), problems
    assert any("commands must not import mynacard" in p for p in problems), problems
    assert any(p.startswith("import cycle") and "lifecycle.card" in p for p in problems), problems
    assert not any("ok.py:1" in p or "ok.py:2" in p for p in problems), problems
