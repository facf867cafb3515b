"""A TLS client refused during its handshake is reported as an event (the station sends
it to the audit repository as a Security Alert)."""

from __future__ import annotations

from pathlib import Path

from mw_tui.dicom.events import TlsRefused
from mw_tui.dicom.scp import Receiver
from tests.dicom.test_tls import pki, tls_client, tls_config  # noqa: F401 - fixture
from tests.peers import dcmtk, wait_until


def test_a_refused_tls_client_is_reported(tmp_path: Path, pki: Path) -> None:  # noqa: F811
    events: list[object] = []
    with Receiver(tls_config(tmp_path, pki), on_event=events.append) as r:
        rogue = dcmtk("echoscu", *tls_client(pki, "rogue"), "-aec", "MW_TUI", "127.0.0.1",
                      str(r.tls_port), check=False)
        assert rogue.returncode != 0
        refused = wait_until(lambda: [e for e in events if isinstance(e, TlsRefused)], 10,
                             "the refusal")
    assert refused[0].peer.startswith("127.0.0.1")
    assert "not signed by an authority in tls.ca" in refused[0].reason
