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


ROOT = PACKAGE.parent


def test_import_linter_contracts_are_kept() -> None:
    """pyproject.toml's contracts: the layers, the front ends only through the station
    layer, no Textual below them, no import cycles."""
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 kept, 0 broken" in proc.stdout, proc.stdout


def test_no_module_is_over_450_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert not long, f"split these modules: {long}"


def test_the_graph_tool_finds_arrows_up_cycles_and_reaches_past_the_station(
        tmp_path: Path) -> None:
    """tools/import_graph.py, which the issue notes quote, measures what it says."""
    pkg = tmp_path / "mw_tui"
    for name, text in {
            "__init__.py": "", "store/__init__.py": "", "dicom/__init__.py": "",
            "ui/__init__.py": "",
            "store/index.py": "from mw_tui.dicom import sop\n",  # up a layer
            "dicom/sop.py": "from mw_tui.dicom import wire\n",
            "dicom/wire.py": "from mw_tui.dicom.sop import X\n",  # a cycle of two
            "ui/screen.py": "def f():\n    from mw_tui.store.index import Index\n",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "import_graph.py"),
                           str(tmp_path), "--list"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 arrows up the layers, 1 import cycles (2 modules in them), 1 imports of " \
           "domain services" in proc.stdout, proc.stdout
    assert "up: mw_tui.store.index -> mw_tui.dicom.sop" in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "import_graph.py")],
                          capture_output=True, text=True, timeout=60)
    assert " 0 arrows up the layers, 0 import cycles" in proc.stdout, proc.stdout
    assert " 0 imports of domain services by the screens and the CLI" in proc.stdout
