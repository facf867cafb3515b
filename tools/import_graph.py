#!/usr/bin/env python3
"""The import graph of mw_tui, measured: modules, import arrows, arrows that run up the
layers of pyproject.toml's import-linter contract, import cycles, and imports of the
domain's services by the screens and the command line (which go through `station`).

    python3 tools/import_graph.py [PATH_TO_A_CHECKOUT] [--list]

Plain standard library (ast), so it measures any checkout, an old one included; imports
inside functions count too. A module's layer is the first layer naming its package (or a
parent of it); the layers are read from the checkout's pyproject.toml when it has them,
else from this file's copy of the current ones.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

CURRENT_LAYERS = [
    "mw_tui.__main__", "mw_tui.cli : mw_tui.app : mw_tui.ui", "mw_tui.station", "mw_tui.jobs",
    "mw_tui.importing",
    "mw_tui.devices : mw_tui.media : mw_tui.reports : mw_tui.demo : mw_tui.labels",
    "mw_tui.deid",
    "mw_tui.dicom",
    "mw_tui.store", "mw_tui.audit", "mw_tui.standard : mw_tui.config", "mw_tui.util",
]
# where the modules of older checkouts belong (before the application layer existed)
OLD_HOMES = {"mw_tui.coalesce": "mw_tui.util", "mw_tui.sqlite": "mw_tui.util",
             "mw_tui.logs": "mw_tui.util", "mw_tui.privacy": "mw_tui.util"}


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in (root / "mw_tui").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t != "mw_tui":
                found.add(t)
    return found


def layer_of(name: str, layers: list[list[str]]) -> int | None:
    name = next((new + name[len(old):] for old, new in OLD_HOMES.items()
                 if name == old or name.startswith(old + ".")), name)
    for i, layer in enumerate(layers):
        if any(name == m or name.startswith(m + ".") for m in layer):
            return i
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    show = "--list" in argv
    args = [a for a in argv if a != "--list"]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    known = modules(root)
    graph = {m: imports(m, p, known) for m, p in known.items()}
    spec = CURRENT_LAYERS
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        for c in tomllib.loads(pyproject.read_text()).get("tool", {}).get(
                "importlinter", {}).get("contracts", []):
            if c.get("type") == "layers":
                spec = c["layers"]
    layers = [[m.strip() for m in s.replace("|", ":").split(":")] for s in spec]
    up = sorted((a, b) for a, ds in graph.items() for b in ds
                if (la := layer_of(a, layers)) is not None
                and (lb := layer_of(b, layers)) is not None and lb < la)
    unlayered = sorted(m for m in known if layer_of(m, layers) is None)
    front, domain = ("mw_tui.cli", "mw_tui.app", "mw_tui.ui"), (
        "mw_tui.jobs", "mw_tui.devices", "mw_tui.media", "mw_tui.reports", "mw_tui.demo",
        "mw_tui.deid", "mw_tui.labels", "mw_tui.importing", "mw_tui.dicom", "mw_tui.store",
        "mw_tui.audit")
    past = sorted((a, b) for a, ds in graph.items() for b in ds
                  if a.startswith(front) and b.startswith(domain))
    found = cycles(graph)
    print(f"{root}: {len(known)} modules, {sum(map(len, graph.values()))} import arrows, "
          f"{len(up)} arrows up the layers, {len(found)} import cycles "
          f"({sum(map(len, found))} modules in them), {len(past)} imports of domain services "
          f"by the screens and the CLI, {len(unlayered)} modules in no layer")
    if show:
        for a, b in up:
            print(f"  up: {a} -> {b}")
        for a, b in past:
            print(f"  past the station layer: {a} -> {b}")
        for c in found:
            print(f"  cycle of {len(c)}: {', '.join(c)}")
        for m in unlayered:
            print(f"  no layer: {m}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
