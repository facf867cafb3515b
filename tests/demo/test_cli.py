"""`mw-tui demo-archive`: runs in the foreground, says where it listens, stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from mw_tui.cli import main
from tests.peers import dcmtk, wait_until


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[station]\nae_title = "MW_STATION"\nport = 11999\n')
    return cfg


def test_demo_archive_runs_until_sigterm(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mw_tui", "--config", str(_config(tmp_path)),
             "demo-archive", "--port", "0", "--data", str(demo_data), "--samples", "tiny",
             "--ae-title", "DEMO_T", "--destination", "OTHER=127.0.0.1:4242"],
            stdout=f, stderr=subprocess.STDOUT)
    try:
        text = wait_until(lambda: re.search(r"port (\d+)", out.read_text()), 30,
                          "the demo archive to say where it listens")
        port = int(text.group(1))
        dcmtk("echoscu", "-aec", "DEMO_T", "127.0.0.1", str(port))
        shown = out.read_text()
        assert "AE title DEMO_T, host 127.0.0.1" in shown
        assert "MW_STATION=127.0.0.1:11999" in shown and "OTHER=127.0.0.1:4242" in shown
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_destination_is_a_usage_error(tmp_path: Path, capsys: object) -> None:
    code = main(["--config", str(_config(tmp_path)), "demo-archive", "--data",
                 str(tmp_path / "d"), "--destination", "nonsense", "--samples", "none"])
    assert code == 2
    assert "expected AE=HOST:PORT" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_port_in_use_says_what_to_do(tmp_path: Path, capsys: object) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["--config", str(_config(tmp_path)), "demo-archive", "--data",
                     str(tmp_path / "d"), "--port", str(port), "--samples", "none"])
    assert code == 1
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
