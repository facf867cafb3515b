"""The domain packages never import Textual (only mw_tui/ui and mw_tui/app.py may)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mw_tui"
UI_ONLY = ("ui", "app.py")


def domain_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py")
            if p.relative_to(PACKAGE).parts[0] not in UI_ONLY]


def test_no_domain_module_imports_textual() -> None:
    offenders = []
    for path in domain_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "textual" or n.startswith(("textual.", "textual_serve"))
                   or n.startswith("mw_tui.ui") or n == "mw_tui.app" for n in names):
                # the CLI may start the app, but only lazily inside a function
                if path.relative_to(PACKAGE).parts[0] == "cli" and node.col_offset > 0:
                    continue
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, f"domain code imports the UI: {offenders}"


def test_importing_every_domain_module_loads_no_textual() -> None:
    modules = sorted(
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        for p in domain_files() if p.name != "__main__.py"
    )
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
