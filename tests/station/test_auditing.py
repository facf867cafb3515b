"""What the station itself reports to a real audit repository (rsyslog over TLS): its
start and stop, a medium written (Export) and the retrieve before it (Begin Transferring,
Instances Transferred), a search (Query), Settings PINs (User Authentication) and a
refused association (Security Alert)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from mw_tui.jobs.models import JobState, StudyRef
from mw_tui.station import Station
from mw_tui.station.models import StudyQuery
from mw_tui.station.pin import hash_pin
from tests.audit import reading as r
from tests.audit.conftest import audit_config
from tests.audit.rsyslog import Rsyslog
from tests.jobs.conftest import Archive, station_config
from tests.peers import dcmtk, wait_until

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPORT, BEGIN, TRANSFERRED, QUERY, LOGIN, ALERT, APPLICATION = (
    "110106", "110102", "110104", "110112", "110114", "110113", "110100")


def messages(repo: Rsyslog) -> list[ET.Element]:
    return [r.parse(m.xml) for m in repo.received()]


def of(repo: Rsyslog, event: str) -> list[ET.Element]:
    return [m for m in messages(repo) if r.event_id(m) == event]


def test_a_station_reports_what_it_does_to_the_audit_repository(
        tmp_path: Path, pki: Path, rsyslog: Callable[..., Rsyslog], archive: Archive) -> None:
    repo = rsyslog().start()
    audited = audit_config(tmp_path / "a", pki, repo.tls_url)
    base = station_config(tmp_path, archive, iso_folder=str(tmp_path / "iso"))
    config = dataclasses.replace(base, audit=audited.audit, tls=audited.tls,
                                 dicom=dataclasses.replace(base.dicom,
                                                           allowed_callers=["ORTHANC"]),
                                 ui=dataclasses.replace(base.ui, admin_pin=hash_pin(
                                     "2468", iterations=1000)))
    (tmp_path / "iso").mkdir()
    uid, count = next(iter(archive.studies.items()))
    station = Station(config, watch_devices=False)
    station.start()
    try:
        found = station.search(StudyQuery(patient_id="P100"))
        assert [s.study_uid for s in found.studies] == [uid]
        gate = station.pin_gate()
        assert gate.check("0000") is not None and gate.check("2468") is None
        job = station.create_job([StudyRef(uid, "orthanc", count)], f"iso:{tmp_path / 'iso'}")
        wait_until(lambda: station.job(job.id).state.finished, 90, "the job")
        assert station.job(job.id).state is JobState.DONE, station.job(job.id).error
        refused = dcmtk("echoscu", "-aet", "INTRUDER", "-aec", config.station.ae_title,
                        "127.0.0.1", str(station.receiver.port), check=False)
        assert refused.returncode != 0
        wait_until(lambda: of(repo, ALERT), 30, "the security alert")
    finally:
        station.stop()
    wait_until(lambda: len(of(repo, APPLICATION)) == 2, 30, "the start and the stop")

    (export,) = of(repo, EXPORT)
    assert r.patients(export) == {"P100": "Nowak^Zofia"}
    (classes,) = r.studies(export).values()
    assert classes[CT] == 6 and sum(classes.values()) == count
    media = r.with_role(export, "110154")
    assert media and media[0].media_type and station.job(job.id).volumes[0].label in str(
        ET.tostring(export))
    (begin,) = of(repo, BEGIN)
    (done,) = of(repo, TRANSFERRED)
    assert uid in r.studies(begin) and r.studies(done)[uid] == classes
    assert r.event(done)["EventOutcomeIndicator"] == "0"
    queries = of(repo, QUERY)
    assert queries and all(r.with_role(q, "110152") for q in queries)
    wrong, right = of(repo, LOGIN)
    assert r.event(wrong)["EventOutcomeIndicator"] == "4"  # a wrong PIN: a minor failure
    assert r.event(right)["EventOutcomeIndicator"] == "0"
    (alert,) = of(repo, ALERT)
    assert "INTRUDER" in ET.tostring(alert, encoding="unicode")
    starts = [r.event_types(m) for m in of(repo, APPLICATION)]
    assert [t[0] for t in starts] == ["110120", "110121"]
