"""mw_tui.deid sits below media and above dicom: it imports only its layer and below."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mw_tui" / "deid"
ALLOWED = ("mw_tui.deid", "mw_tui.dicom", "mw_tui.store", "mw_tui.audit", "mw_tui.config",
           "mw_tui.standard")


def test_deid_imports_nothing_above_it() -> None:
    offenders = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if (name == "mw_tui" or name.startswith("mw_tui.")) and not name.startswith(
                        ALLOWED):
                    offenders.append(f"{path.name}:{node.lineno} {name}")
    assert not offenders, offenders
