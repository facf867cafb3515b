"""Every benchmark runs once on tiny data, so none of them rots."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")
                                          if not p.name.startswith("_")))
def test_benchmark_runs_on_tiny_data(script: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / script), "--tiny"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # every benchmark prints a ratio against its peer ("mw-tui / storescp: 0.61x"), a number
    ratios = re.findall(r" / [^\n]*?(\d+\.\d+)x\b", proc.stdout)
    assert ratios, f"no ratio printed:\n{proc.stdout[-3000:]}"
    assert all(float(r) > 0 for r in ratios), ratios
