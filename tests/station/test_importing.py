"""Importing through the station layer: destinations, an import job reported to a real
audit repository (rsyslog over TLS) as an Import (110107) of the studies as the archive
got them, from the medium they came on, by the user who asked; and its local audit log
(who imported which outside patient as which local patient, from which medium)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.importing import LocalPatient
from mw_tui.jobs.models import JobState
from mw_tui.station import Station
from tests.audit import reading as r
from tests.audit.conftest import audit_config
from tests.audit.rsyslog import Rsyslog
from tests.importing.conftest import config_for, ct_files, outside_ct, write_disc
from tests.peers import Orthanc, wait_until

IMPORT, SOURCE_MEDIA, URI = "110107", "110155", "110037"
CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    o = Orthanc(tmp_path / "orthanc", dicomweb=True).start()
    try:
        yield o
    finally:
        o.stop()


def test_destinations_put_the_configured_one_first(tmp_path: Path, orthanc: Orthanc) -> None:
    base = config_for(tmp_path, orthanc)
    other = cfg.Archive(name="other", ae_title="OTHER", host="127.0.0.1", port=1)
    station = Station(dataclasses.replace(base, archives=(other, *base.archives)))
    assert station.import_destinations() == ["other", "pacs", "cloud:web"]
    configured = dataclasses.replace(station.config, importing=cfg.ImportingConfig(
        destination="cloud:web"))
    assert Station(configured).import_destinations() == ["cloud:web", "other", "pacs"]


def test_an_import_is_reported_to_the_audit_repository(
        tmp_path: Path, pki: Path, rsyslog: Callable[..., Rsyslog], orthanc: Orthanc,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MW_TUI_USER", "tech.anna")
    repo = rsyslog().start()
    audited = audit_config(tmp_path / "a", pki, repo.tls_url)
    base = config_for(tmp_path, orthanc)
    config = dataclasses.replace(base, audit=audited.audit, tls=audited.tls,
                                 jobs=dataclasses.replace(base.jobs, syslog=False))
    disc = write_disc(tmp_path / "disc", ct_files(outside_ct(5)), label="FROM_AWAY")
    station = Station(config, receive=False, watch_devices=False)
    station.start()
    try:
        medium = station.read_medium(disc.iso)
        plan = station.import_plan(LocalPatient("LOC-5", "OURS", "Local^Anna"))
        job = station.create_import_job(disc.iso, plan, medium)
        wait_until(lambda: station.job(job.id).state.finished, 90, "the import")
        assert station.job(job.id).state is JobState.DONE, station.job(job.id).error
        messages = wait_until(lambda: [m for m in (r.parse(x.xml) for x in repo.received())
                                       if r.event_id(m) == IMPORT], 30, "the Import message")
        entries = {e.action: e for e in station.audit.entries(job.id)}
    finally:
        station.stop()
    (message,) = messages
    assert r.event(message)["EventActionCode"] == "C"
    assert r.event(message)["EventOutcomeIndicator"] == "0"
    assert r.patients(message) == {"LOC-5": "Local^Anna"}
    (study,) = medium.studies
    assert r.studies(message) == {study.study_uid: {CT: 5}}
    (source,) = r.with_role(message, SOURCE_MEDIA)
    assert source.media_type == URI and source.user_id == disc.iso.as_uri()
    assert source.attrs["UserName"] == f"ISO file FROM_AWAY ({disc.iso})"
    assert "tech.anna" in r.requestors(message)
    # the station's own audit log says the same, with the outside identity
    created, imported = entries["import job created"], entries["studies imported"]
    assert created.user == imported.user == "tech.anna"
    assert created.volume == f"iso file {disc.iso}"
    assert "Doe^John (EXT-4711, issuer OTHER_HOSPITAL) as local patient LOC-5, issuer " \
           "OURS Local^Anna" in imported.details
