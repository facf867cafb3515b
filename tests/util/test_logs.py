"""Logging to standard error: no log line is lost, and none turns into a "Logging error",
when standard error was swapped for a while (a capture closed since) and the receiver's
event pump logs what its worker processes said, up to its stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.peers import free_port, need

ROOT = Path(__file__).resolve().parents[1]

CYCLE = '''
import io, subprocess, sys
from pathlib import Path
from mw_tui import config as cfg
from mw_tui.dicom.scp import Receiver
from mw_tui.util.logs import setup_logging

real = sys.stderr
sys.stderr = io.StringIO()  # a capture (a test harness, a print capture) ...
setup_logging("INFO")       # ... while the command sets up its logging
sys.stderr.close()          # then the capture ends
sys.stderr = real
config = cfg.Config(station=cfg.StationConfig(
    port=int(sys.argv[1]), bind="127.0.0.1", storage=sys.argv[2], min_free_mb=1,
    receiver_processes=1))
receiver = Receiver(config)
receiver.start()
subprocess.run(["echoscu", "-aet", "CT01", "-aec", "MW_TUI", "127.0.0.1",
                str(receiver.port)], check=True, capture_output=True, timeout=60)
receiver.stop()
'''


def test_a_receiver_start_stop_cycle_logs_cleanly_to_stderr(tmp_path: Path) -> None:
    need("echoscu")
    proc = subprocess.run([sys.executable, "-c", CYCLE, str(free_port()), str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "Logging error" not in proc.stderr and "closed file" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert any("receiver MW_TUI listening on 127.0.0.1" in line for line in lines), proc.stderr
    # logged in the worker process, handed over by the receiver's event pump
    assert any("association from 127.0.0.1" in line and "CT01" in line for line in lines)
    assert lines[-1].endswith("mw_tui.dicom.scp: receiver stopped"), proc.stderr
