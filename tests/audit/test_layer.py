"""mw_tui.audit sits low: it imports only mw_tui.config of the station's own packages."""

from __future__ import annotations

import ast
from pathlib import Path

import mw_tui.audit

PACKAGE = Path(mw_tui.audit.__file__).parent


def test_audit_imports_only_config_of_the_station() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("mw_tui") and not name.startswith(
                        ("mw_tui.audit", "mw_tui.config")):
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == []
