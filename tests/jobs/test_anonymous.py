"""Anonymous copies as jobs (issue: copies for teaching and research): a job to an ISO
file from studies full of patient data leaves none of it on the medium and nothing
de-identified in the store; identified data to an external cloud target waits for a
confirmation, and the audit log says who gave it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pycdlib
import pydicom
import pytest
from pydicom.fileset import FileSet

from mw_tui import config as cfg
from mw_tui.jobs.models import JobOptions, JobState, StudyRef
from mw_tui.station import Station
from mw_tui.station.models import IdentifiedDataLeaves, Target
from mw_tui.store import Store
from tests.conftest import make_config, write_config
from tests.deid import phi
from tests.peers import wait_until


def extract(iso: Path, dest: Path) -> list[Path]:
    image = pycdlib.PyCdlib()
    image.open(str(iso))
    out = []
    try:
        for root, _dirs, files in image.walk(iso_path="/"):
            for name in files:
                src = f"{root.rstrip('/')}/{name}"
                local = dest / src.lstrip("/").split(";")[0].rstrip(".")
                local.parent.mkdir(parents=True, exist_ok=True)
                image.get_file_from_iso(str(local), iso_path=src)
                out.append(local)
    finally:
        image.close()
    return out


def test_an_anonymous_job_leaves_no_patient_data_on_the_medium_nor_copies_in_the_store(
        tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store(config.storage)
    corpus = phi.build(store)
    before = store.index.counts()
    store.close()
    (tmp_path / "out").mkdir()
    station = Station(config, watch_devices=False)
    station.start()
    try:
        refs = [StudyRef(u) for u in (corpus.a1, corpus.a2)]
        job = station.create_job(refs, f"iso:{tmp_path / 'out'}", "STD-GEN-DVD",
                                 anonymize="basic")
        assert job.options.copy == "anonymous:basic" and job.options.deid_seed
        done = wait_until(lambda: (j := station.job(job.id)).state.finished and j, 90,
                          "the job")
        assert done.state is JobState.DONE, done.error
        history = " ".join(m for _, _, m in station.job_history(job.id))
        assert "left out" in history  # the PDF, the SC and the US may show the name
        entries = [e for e in station.audit.entries(job.id)]
        assert any("profile basic" in (e.details or "") for e in entries)
        assert not any(phi.ALICE.name.split("^")[0] in (e.details or "") for e in entries
                       if e.action == "anonymous copies made")
    finally:
        station.stop()
    (volume,) = done.volumes
    files = extract(Path(volume.details), tmp_path / "medium")
    everything = b"".join(f.read_bytes() for f in files)
    found = [s for s in phi.SECRETS if s.encode() in everything]
    assert not found, f"patient data on the medium: {found}"
    dicomdir = next(f for f in files if f.name == "DICOMDIR")
    names = {str(i.PatientName) for i in FileSet(pydicom.dcmread(dicomdir))}
    assert names and all(n.startswith("ANON-") for n in names)
    assert len(names) == 1  # two studies of one patient: one pseudonym
    store = Store(config.storage)
    try:  # the station's store: exactly what it held, none of it de-identified
        assert store.index.counts() == before
        assert all(not r.patient_name.startswith("ANON-") for r in store.index.studies())
    finally:
        store.close()


def external(config: cfg.Config, url: str = "https://research.example.org/dicom-web"
             ) -> cfg.Config:
    return dataclasses.replace(config, targets=(cfg.CloudTarget(name="research", url=url),))


def test_identified_data_to_an_external_target_waits_for_a_confirmation(
        tmp_path: Path) -> None:
    config = external(make_config(tmp_path))
    store = Store(config.storage)
    corpus = phi.build(store)
    store.close()
    station = Station(config, watch_devices=False, run_jobs=False, receive=False)
    try:
        target = Target.parse("cloud:research")
        assert "outside the hospital" in station.confirmation_needed(target)
        assert station.confirmation_needed(target, "basic") == ""
        with pytest.raises(IdentifiedDataLeaves, match="outside the hospital"):
            station.create_job([StudyRef(corpus.b)], target)
        assert station.job_list() == []
        anonymous = station.create_job([StudyRef(corpus.b)], target, anonymize="basic")
        assert anonymous.options.identified_confirmed_by == ""
        confirmed = station.create_job([StudyRef(corpus.b)], target,
                                       confirmed_identified=True, user="dr.house")
        assert confirmed.options.identified_confirmed_by == "dr.house"
        (entry,) = [e for e in station.audit.entries(confirmed.id) if e.action == "job created"]
        assert "confirmed by dr.house" in entry.details
    finally:
        station.stop()

    path = write_config(config, tmp_path / "config.toml")
    with path.open("a") as f:
        f.write('[[targets]]\nname = "research"\nurl = "https://research.example.org/dicom-web"\n')
    burn = [sys.executable, "-m", "mw_tui", "--config", str(path), "burn", "--study", corpus.b,
            "--to", "cloud:research", "--no-wait"]
    refused = subprocess.run(burn, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "outside the hospital" in refused.stderr
    assert "--yes-identified" in refused.stderr
    queued = subprocess.run([*burn, "--yes-identified"], capture_output=True, text=True,
                            timeout=60)
    assert queued.returncode == 0, queued.stderr
    anonymous = subprocess.run([*burn, "--anonymize", "basic"], capture_output=True, text=True,
                               timeout=60)
    assert anonymous.returncode == 0, anonymous.stderr


def test_a_rule_may_send_only_anonymous_copies_to_an_external_target() -> None:
    text = ('[[targets]]\nname = "research"\nurl = "https://r.example.org/dw"\n'
            '[[rules]]\nname = "teach"\ntarget = "cloud:research"\n')
    with pytest.raises(cfg.ConfigError, match="may only send anonymous copies"):
        cfg.loads(text)
    config = cfg.loads(text + 'deid_profile = "basic"\n')
    assert config.rules[0].deid_profile == "basic"
    assert cfg.loads(text.replace('url = "https://r.example.org/dw"\n',
                                  'url = "https://r.example.org/dw"\nexternal = false\n'))
    with pytest.raises(cfg.ConfigError, match="no such \\[\\[deid_profiles\\]\\] profile"):
        cfg.loads(text + 'deid_profile = "teaching"\n')


def test_an_anonymous_job_keeps_what_the_job_asked_of_the_medium(tmp_path: Path) -> None:
    """DICOM objects only (no web images): an anonymous copy follows the job's choice,
    not only the [media] settings."""
    config = make_config(tmp_path)
    store = Store(config.storage)
    corpus = phi.build(store)
    store.close()
    (tmp_path / "out").mkdir()
    station = Station(config, watch_devices=False)
    station.start()
    try:
        job = station.create_job([StudyRef(corpus.a1)], f"iso:{tmp_path / 'out'}",
                                 "STD-GEN-DVD", anonymize="basic",
                                 options=JobOptions(web=False))
        done = wait_until(lambda: (j := station.job(job.id)).state.finished and j, 90,
                          "the anonymous job")
        assert done.state is JobState.DONE, done.error
    finally:
        station.stop()
    (iso,) = (tmp_path / "out").glob("*.iso")
    names = [p.name for p in extract(iso, tmp_path / "tree")]
    assert "INDEX.HTM" in names and not [n for n in names if n.endswith(".JPG")]


def test_an_anonymous_label_names_neither_the_institution_nor_the_station(
        tmp_path: Path) -> None:
    config = make_config(tmp_path, ae_title="KELLERMANN_CT")
    config = dataclasses.replace(config, media=dataclasses.replace(
        config.media, institution="Clinique Sainte-Odile", station_name="Kellermann CT"))
    station = Station(config, receive=False, watch_devices=False, run_jobs=False)
    try:
        identified = " ".join(station.label_preview([], 1, anonymous=False, width=60))
        anonymous = " ".join(station.label_preview([], 1, anonymous=True, width=60))
    finally:
        station.stop()
    assert "Sainte-Odile" in identified and "Kellermann CT" in identified
    assert "Anonymous copy" in anonymous
    for place in ("Sainte-Odile", "Kellermann", "KELLERMANN_CT"):
        assert place not in anonymous, (place, anonymous)
