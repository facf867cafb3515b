"""Audit messages reach a real rsyslog over TLS (RFC 5425) and UDP (RFC 5426); while it is
down they wait in the spool, and each is delivered exactly once when it is back, across
restarts of the sender."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mw_tui import audit
from mw_tui.audit import AuditTrail, TrailState, TrailStatus
from mw_tui.audit.spool import Spool
from tests.audit import reading as r
from tests.audit import samples as s
from tests.audit.conftest import audit_config
from tests.audit.rsyslog import Rsyslog
from tests.peers import free_port, wait_until

Factory = Callable[..., Rsyslog]


def patient_ids(repo: Rsyslog) -> Counter[str]:
    """How many times each patient ID arrived (every message must be a valid Export)."""
    out: Counter[str] = Counter()
    for msg in repo.received():
        out.update(list(r.patients(r.parse(msg.xml))))
    return out


def exports(n: int, prefix: str = "P") -> list[audit.Export]:
    return [s.export(audit.Patient(f"{prefix}{i}", f"Doe^{i}")) for i in range(n)]


def spooled(tmp_path: Path) -> int:
    return Spool(tmp_path / "spool").count()


def test_every_kind_of_message_reaches_rsyslog_over_tls(tmp_path: Path, pki: Path,
                                                         rsyslog: Factory) -> None:
    repo = rsyslog().start()
    statuses: list[TrailStatus] = []
    config = audit_config(tmp_path, pki, repo.tls_url)
    events = s.every_kind()
    with AuditTrail(config, tmp_path / "spool", on_status=statuses.append) as trail:
        for event in events.values():
            assert trail.record(event)
        received = repo.wait_for(len(events))
        wait_until(lambda: trail.status().state is TrailState.IDLE, what="all delivered")
    assert len(received) == len(events)
    assert spooled(tmp_path) == 0
    ids = []
    for msg in received:
        assert msg.pri in (85, 84)  # authpriv (10): notice, or warning for a failure
        assert (msg.hostname, msg.app, msg.msgid, msg.sd) == ("station.test", "mw-tui",
                                                              "IHE+RFC-3881", "-")
        root = r.parse(msg.xml)
        ids.append(r.event_id(root))
        if r.event_id(root) in ("110106", "110107", "110104", "110102"):
            assert r.patients(root) == {"PID-1": "Müller^Jürgen"}
            assert s.STUDY.uid in r.studies(root)
    assert sorted(ids) == sorted(key.split("-")[0] for key in events)
    failed = [m for m in received if m.pri == 84]
    assert len(failed) == 2  # the wrong PIN and the refused association
    assert {st.state for st in statuses} >= {TrailState.SENDING, TrailState.IDLE}


def test_messages_over_udp(tmp_path: Path, pki: Path, rsyslog: Factory) -> None:
    repo = rsyslog().start()
    config = audit_config(tmp_path, pki, repo.udp_url)
    with AuditTrail(config, tmp_path / "spool") as trail:
        for event in exports(3):
            trail.record(event)
        repo.wait_for(3)
        wait_until(lambda: spooled(tmp_path) == 0, what="the spool emptied")
    assert patient_ids(repo) == Counter({"P0": 1, "P1": 1, "P2": 1})


def test_repository_down_then_up_delivers_each_message_exactly_once(
        tmp_path: Path, pki: Path, rsyslog: Factory) -> None:
    repo = rsyslog(tcp_port=free_port())  # not started: nothing listens there yet
    config = audit_config(tmp_path, pki, repo.tls_url)
    with AuditTrail(config, tmp_path / "spool") as trail:
        for event in exports(5):
            assert trail.record(event)  # returns at once, the repository being down
        status = wait_until(lambda: (st := trail.status()).state is TrailState.WAITING and st,
                            what="the trail waiting for the repository")
        assert "nothing listens there" in status.error
        assert status.waiting == 5
        repo.start()
        repo.wait_for(5)
        wait_until(lambda: trail.status().state is TrailState.IDLE, what="all delivered")
        trail.record(s.export(audit.Patient("LAST")))
        repo.wait_for(6)
    assert patient_ids(repo) == Counter({"P0": 1, "P1": 1, "P2": 1, "P3": 1, "P4": 1,
                                         "LAST": 1})
    ids = [r.patients(r.parse(m.xml)) for m in repo.received()]
    assert [next(iter(i)) for i in ids] == ["P0", "P1", "P2", "P3", "P4", "LAST"]  # in order
    assert spooled(tmp_path) == 0


def test_a_restarted_sender_sends_what_was_spooled_once(tmp_path: Path, pki: Path,
                                                        rsyslog: Factory) -> None:
    repo = rsyslog(tcp_port=free_port())
    config = audit_config(tmp_path, pki, repo.tls_url)
    first = AuditTrail(config, tmp_path / "spool")
    first.start()
    for event in exports(4):
        first.record(event)
    wait_until(lambda: first.status().state is TrailState.WAITING, what="waiting")
    first.stop()  # the station stops with 4 messages undelivered
    assert first.status() == TrailStatus(TrailState.STOPPED, 4)
    repo.start()
    with AuditTrail(config, tmp_path / "spool") as second:
        repo.wait_for(4)
        wait_until(lambda: second.status().state is TrailState.IDLE, what="all delivered")
    assert patient_ids(repo) == Counter({"P0": 1, "P1": 1, "P2": 1, "P3": 1})
    assert spooled(tmp_path) == 0


CHILD = """
import sys, threading
from pathlib import Path
from mw_tui import audit, config as cfg
from tests.audit import samples
trail = audit.AuditTrail(cfg.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
trail.start()
for i in range(3):
    trail.record(samples.export(audit.Patient(f"K{i}")))
print("recorded", flush=True)
threading.Event().wait()
"""


def test_a_killed_station_loses_nothing(tmp_path: Path, pki: Path, rsyslog: Factory) -> None:
    repo = rsyslog(tcp_port=free_port())
    conf = tmp_path / "config.toml"
    conf.write_text(f'[audit]\nrepository = "{repo.tls_url}"\nretry_max = 1.0\n'
                    f'address = "station.test"\n[tls]\ncertificate = "{pki}/client.crt"\n'
                    f'key = "{pki}/client.key"\nca = "{pki}/ca.crt"\n')
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(conf), str(tmp_path / "spool")],
                             cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "recorded\n"
        child.send_signal(signal.SIGKILL)  # no clean stop: a power cut as far as it knows
    finally:
        child.kill()
        child.wait(timeout=30)
    assert spooled(tmp_path) == 3
    repo.start()
    config = audit_config(tmp_path, pki, repo.tls_url)
    with AuditTrail(config, tmp_path / "spool") as trail:  # its lock died with it
        repo.wait_for(3)
        wait_until(lambda: trail.status().state is TrailState.IDLE, what="all delivered")
    assert patient_ids(repo) == Counter({"K0": 1, "K1": 1, "K2": 1})


def test_the_repository_restarting_loses_nothing(tmp_path: Path, pki: Path,
                                                 rsyslog: Factory) -> None:
    repo = rsyslog().start()
    config = audit_config(tmp_path, pki, repo.tls_url)
    with AuditTrail(config, tmp_path / "spool") as trail:
        for event in exports(3, "A"):
            trail.record(event)
        repo.wait_for(3)
        repo.stop()  # the connection the sender holds is closed by the repository
        for event in exports(3, "B"):
            trail.record(event)
        wait_until(lambda: trail.status().state is TrailState.WAITING, what="waiting")
        assert spooled(tmp_path) == 3
        repo.start()
        repo.wait_for(6)
        wait_until(lambda: trail.status().state is TrailState.IDLE, what="all delivered")
    assert patient_ids(repo) == Counter({f"{p}{i}": 1 for p in "AB" for i in range(3)})


def test_two_senders_on_one_spool_deliver_each_message_once(tmp_path: Path, pki: Path,
                                                             rsyslog: Factory) -> None:
    repo = rsyslog().start()
    config = audit_config(tmp_path, pki, repo.tls_url)
    recorder = AuditTrail(config, tmp_path / "spool")  # e.g. a receiver process: records
    with AuditTrail(config, tmp_path / "spool") as one, \
            AuditTrail(config, tmp_path / "spool") as two:
        states = {one.status().state, two.status().state}
        for i, event in enumerate(exports(9)):
            (one, two, recorder)[i % 3].record(event)
        repo.wait_for(9)
        wait_until(lambda: spooled(tmp_path) == 0, what="the spool emptied")
        wait_until(lambda: TrailState.STANDBY in {one.status().state, two.status().state},
                   what="one sender standing by")
    assert patient_ids(repo) == Counter({f"P{i}": 1 for i in range(9)})
    assert states <= {TrailState.STOPPED, TrailState.IDLE, TrailState.STANDBY,
                      TrailState.SENDING}


def test_an_untrusted_repository_gets_nothing(tmp_path: Path, pki: Path,
                                              rsyslog: Factory) -> None:
    repo = rsyslog().start()
    config = audit_config(tmp_path, pki, repo.tls_url, ca="rogue_ca")  # not its authority
    with AuditTrail(config, tmp_path / "spool") as trail:
        trail.record(s.export())
        status = wait_until(lambda: (st := trail.status()).state is TrailState.WAITING and st,
                            what="waiting")
    assert "certificate is not trusted" in status.error
    assert "[tls] ca" in status.error
    assert repo.lines() == []
    assert spooled(tmp_path) == 1


def test_a_station_certificate_the_repository_refuses(tmp_path: Path, pki: Path,
                                                      rsyslog: Factory) -> None:
    repo = rsyslog().start()
    config = audit_config(tmp_path, pki, repo.tls_url, client="rogue")
    with AuditTrail(config, tmp_path / "spool") as trail:
        trail.record(s.export())
        status = wait_until(lambda: (st := trail.status()).state is TrailState.WAITING and st,
                            what="waiting")
    assert "does it accept this station's certificate" in status.error
    assert repo.lines() == []
    assert spooled(tmp_path) == 1  # kept: it goes once the certificate is fixed


def test_no_repository_records_nothing(tmp_path: Path, pki: Path) -> None:
    config = audit_config(tmp_path, pki, "")
    with AuditTrail(config, tmp_path / "spool") as trail:
        assert trail.record(s.export()) is False
        assert trail.status() == TrailStatus(TrailState.OFF)
    assert not (tmp_path / "spool").exists()


def test_recording_never_raises_and_keeps_what_it_cannot_spool(tmp_path: Path, pki: Path,
                                                               rsyslog: Factory) -> None:
    repo = rsyslog().start()
    blocked = tmp_path / "spool"
    blocked.write_text("a file where the spool folder should be")
    trail = AuditTrail(audit_config(tmp_path, pki, repo.tls_url), blocked)
    assert trail.record(s.export()) is True  # kept in memory
    assert trail.record("not an event") is False  # type: ignore[arg-type]
    status = trail.status()
    assert status.waiting == 1 and "cannot be used" in status.error
    blocked.unlink()  # the folder can be made now: the message goes to the spool, then out
    with trail:
        repo.wait_for(1)
    assert patient_ids(repo) == Counter({"PID-1": 1})
