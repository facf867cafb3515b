"""Reconciliation: the archives know the patient under a local ID; the proposal finds it
by the outside name and birth date (PATIENT level on Orthanc, STUDY level on an archive
that offers only Study Root), and a dead archive is named without hiding the others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.importing import Match, read_medium
from mw_tui.importing.models import Patient
from mw_tui.importing.reconcile import candidates, name_parts, propose
from tests.importing.conftest import OUTSIDE, config_for, ct_files, outside_ct, write_disc
from tests.peers import Orthanc, free_port

LOCAL_PATIENTS = [  # (ID, name as the local systems spell it, birth date)
    ("LOC-0815", "DOE^JOHN^^^", "19600214"),  # the one: same name, other case and padding
    ("LOC-0816", "Doe^Jane", "19600214"),  # same family and birth date, other given name
    ("LOC-0817", "Doe^John", "19710101"),  # same name, another birth date
    ("LOC-0818", "Doebler^John", "19600214"),  # a longer family name
]


@pytest.fixture(scope="module")
def local_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    o = Orthanc(tmp_path_factory.mktemp("local-pacs")).start()
    try:
        for pid, name, born in LOCAL_PATIENTS:
            for _ in range(2 if pid == "LOC-0815" else 1):  # two studies of the one
                study = synth.StudyInfo(patient=synth.PatientInfo(name, pid, born, "M"))
                o.upload_dataset_bytes(synth.part10(synth.image(study)))
        yield o
    finally:
        o.stop()


def test_orthanc_holding_the_patient_under_another_id(local_pacs: Orthanc,
                                                      tmp_path: Path) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(2)))
    config = config_for(tmp_path, local_pacs)
    dead = cfg.Archive(name="dead", ae_title="DEAD", host="127.0.0.1", port=free_port())
    config = cfg.Config(station=config.station, archives=(*config.archives, dead))
    (proposal,) = propose(config, read_medium(disc.iso))
    assert proposal.outside.patient_id == OUTSIDE.patient_id
    ids = [c.patient_id for c in proposal.candidates]
    assert ids == ["LOC-0815", "LOC-0816"]
    best = proposal.best
    assert best is not None and best.patient_id == "LOC-0815"
    assert best.match is Match.NAME_AND_BIRTH_DATE
    assert best.archives == ("pacs",) and best.studies == 2
    assert proposal.candidates[1].match is Match.FAMILY_AND_BIRTH_DATE
    local = best.local()
    assert (local.patient_id, local.birth_date, local.sex) == ("LOC-0815", "19600214", "M")
    (error,) = proposal.errors  # the dead archive is named, the other still answered
    assert "dead" in error and "refused the connection" in error


@pytest.fixture
def study_root_only(tmp_path: Path) -> Iterator[int]:
    """An archive offering Study Root C-FIND only (pynetdicom), holding two studies of
    the local patient."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelFind,
    )

    held = []
    for uid in ("1.2.3.1", "1.2.3.2"):
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.PatientName, ds.PatientID, ds.IssuerOfPatientID = "Doe^John", "LOC-77", "H1"
        ds.PatientBirthDate, ds.PatientSex, ds.StudyInstanceUID = "19600214", "M", uid
        held.append(ds)

    def on_find(event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        query = event.identifier
        assert query.QueryRetrieveLevel == "STUDY"
        assert query.PatientName == "Doe*" and query.PatientBirthDate == "19600214"
        for ds in held:
            yield 0xFF00, ds

    ae = AE(ae_title="STUDYONLY")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find)])
    try:
        yield port
    finally:
        server.shutdown()


def test_an_archive_without_patient_root_is_asked_at_study_level(
        study_root_only: int, tmp_path: Path) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(1)))
    base = config_for(tmp_path)
    config = cfg.Config(station=base.station, archives=(
        cfg.Archive(name="old", ae_title="STUDYONLY", host="127.0.0.1", port=study_root_only),))
    (proposal,) = propose(config, read_medium(disc.iso))
    assert proposal.errors == ()
    (cand,) = proposal.candidates
    assert (cand.patient_id, cand.issuer, cand.studies) == ("LOC-77", "H1", 2)


def outside(name: str, born: str = "19600214") -> Patient:
    return Patient(name, "EXT-1", "", born, "M", ())


def answer(pid: str, name: str, born: str = "19600214", **more: str) -> dict[str, str]:
    return {"PatientID": pid, "PatientName": name, "PatientBirthDate": born, **more}


def test_names_are_compared_without_case_accents_or_padding() -> None:
    assert name_parts("Müller^Jürgen^^^") == name_parts("MULLER^JURGEN") == ("MULLER", "JURGEN")
    assert name_parts("Yamada^Tarou=山田^太郎") == ("YAMADA", "TAROU")
    found = candidates(outside("Müller^Jürgen"), [
        ("a", answer("1", "MULLER^JURGEN")), ("b", answer("1", "Müller^Jürgen")),
        ("a", answer("2", "Müller^Hans")), ("a", answer("3", "Müller^Jürgen", "19990101")),
        ("a", answer("", "Müller^Jürgen")),
    ])
    assert [(c.patient_id, c.match, c.archives) for c in found] == [
        ("1", Match.NAME_AND_BIRTH_DATE, ("a", "b")), ("2", Match.FAMILY_AND_BIRTH_DATE, ("a",))]


def test_without_a_birth_date_only_the_full_name_counts() -> None:
    found = candidates(outside("Doe^John", born=""), [
        ("a", answer("1", "Doe^John", "19600214")), ("a", answer("2", "Doe^Jane"))])
    assert [(c.patient_id, c.match) for c in found] == [("1", Match.NAME)]


def test_the_outside_id_already_known_is_flagged() -> None:
    (c,) = candidates(outside("Doe^John"), [("a", answer("EXT-1", "Doe^John"))])
    assert c.same_id
