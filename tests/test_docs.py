"""Every document the project points at is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = re.compile(r"\bdocs/[\w./-]+\.md\b")


def test_every_docs_reference_exists() -> None:
    sources = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("mw_tui/**/*.py"),
               *ROOT.glob("tests/**/*.py"), *ROOT.glob("kiosk/**/*")]
    referenced: dict[str, list[str]] = {}
    for path in sources:
        if not path.is_file() or path == Path(__file__):
            continue
        for ref in DOC.findall(path.read_text(errors="replace")):
            referenced.setdefault(ref, []).append(str(path.relative_to(ROOT)))
    assert referenced, "no document is referenced at all: is the pattern still right?"
    missing = {ref: where for ref, where in referenced.items() if not (ROOT / ref).is_file()}
    assert not missing, f"referenced but not in the repository: {missing}"
