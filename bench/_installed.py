"""Our commands as an installed station runs them: with compiled bytecode.

`pip install` (what kiosk/install.sh does) compiles every module of mw_tui. A checkout
run with PYTHONDONTWRITEBYTECODE=1, or by a user who cannot write into it, compiles all
of them again in each process (0.1-0.15 s of each command on these machines), which the
peers' compiled tools never pay. The benchmarks compile the checkout's modules once,
untimed, into their `__pycache__` folders (what Python itself writes when it may; git
ignores them).
"""

from __future__ import annotations

import compileall
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mw_tui"


def compile_package() -> None:
    """mw_tui's bytecode, as pip leaves it in an installed station."""
    if not compileall.compile_dir(PACKAGE, quiet=1):
        raise SystemExit(f"could not compile {PACKAGE}")
