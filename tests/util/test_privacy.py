"""Patient data stays out of ordinary logs, store folders are private, temp names say
nothing about the patient."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest
from pydicom.filewriter import dcmwrite

from mw_tui.demo import synth
from mw_tui.standard import sop
from mw_tui.store import Store, incoming, sink
from mw_tui.util import privacy
from mw_tui.util.logs import setup_logging
from tests import rawfuzz
from tests.peers import dcmtk, need, wait_until

NAME, GIVEN, PID, BIRTH = "Zeppelin", "Hortensia", "PX98765432", "19310405"


def test_mask_and_redact() -> None:
    assert privacy.mask("Doe^John^^^") == "D***^J***"
    assert privacy.mask_id("PID123456") == "P***56" and privacy.mask_id("12") == "1***"
    cases = {
        "received Doe^John from CT01": "received D***^J*** from CT01",
        "PatientID=PID123456, PatientName='Smith'": "PatientID=P***56, PatientName='S***'",
        "(0010,0010) Patient's Name      PN: 'Doe^John'": "(0010,0010) Patient's Name      PN: ***",
        "(0010,0020) Patient ID          LO: [PID0001]": "(0010,0020) Patient ID          LO: ***",
        "Yamada^Tarou=山田^太郎": "Y***^T***=山***^太***",
        "study 1.2.840.113619.2.1 from CT01 (3 instances)":
            "study 1.2.840.113619.2.1 from CT01 (3 instances)",
    }
    for text, masked in cases.items():
        assert privacy.redact(text) == masked


def test_every_handler_masks(tmp_path: Path) -> None:
    log_file = tmp_path / "station.log"
    setup_logging("DEBUG", to_stderr=False, file=log_file)
    try:
        log = logging.getLogger("mw_tui.somewhere")
        log.info("job for %s (%s) born %s", f"{NAME}^{GIVEN}", f"PatientID={PID}", BIRTH)
        log.warning("PatientName=%s failed", NAME)
        try:
            raise ValueError(f"cannot read {NAME}^{GIVEN}")
        except ValueError:
            log.exception("a traceback naming a patient")
        for h in logging.getLogger().handlers:
            h.flush()
        text = log_file.read_text()
    finally:
        setup_logging("INFO")
    assert NAME not in text and GIVEN not in text and PID not in text
    assert "Z***^H***" in text and "P***32" in text and "a traceback naming" in text


def test_receiving_logs_no_patient_data_even_at_debug(tmp_path: Path) -> None:
    need("storescu", "echoscu")
    study = synth.StudyInfo(patient=synth.PatientInfo(name=f"{NAME}^{GIVEN}", patient_id=PID,
                                                      birth_date=BIRTH))
    files = [synth.save(synth.image(study, instance_number=i + 1, rows=8, columns=8),
                        tmp_path / f"im{i}.dcm") for i in range(3)]
    serve = rawfuzz.Serve(tmp_path / "serve", processes=1, level="DEBUG")
    serve.start()
    try:
        dcmtk("echoscu", "-aec", "MW_TUI", "127.0.0.1", str(serve.port))
        dcmtk("storescu", "-aec", "MW_TUI", "127.0.0.1", str(serve.port), *map(str, files))
        wait_until(lambda: "new instance" in serve.log_text(), what="the study log line")
    finally:
        assert serve.stop() == 0
    text = serve.log_text()
    assert study.study_uid in text  # it does log what happened...
    for phi in (NAME, GIVEN, PID, BIRTH):
        assert phi not in text  # ...without saying who it happened to


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in [root, *root.rglob("*")]}


def test_store_is_private_to_its_owner(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)  # made by hand, readable by everybody
    store = Store(root)
    ds = synth.image(synth.StudyInfo(), rows=8, columns=8)
    buf = io.BytesIO()
    dcmwrite(buf, ds, implicit_vr=False, little_endian=True)
    store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE, buf.getvalue())
    found = modes(root)
    assert found["."] == 0o700
    assert any(k.endswith(".dcm") for k in found) and any(k.endswith("-wal") for k in found)
    for name, mode in found.items():
        if (root / name).is_dir():
            assert mode == 0o700, (name, oct(mode))
        else:
            assert mode == 0o600, (name, oct(mode))


def test_temp_names_say_nothing_about_the_patient(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    study = synth.StudyInfo(patient=synth.PatientInfo(name=f"{NAME}^{GIVEN}", patient_id=PID))
    store = Store(tmp_path / "store")
    seen: list[str] = []
    replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(Path(src).name)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    rename_new = sink._rename_new

    def spy_new(src: Path, dst: Path) -> bool | None:  # a push's new name (NOREPLACE)
        seen.append(Path(src).name)
        return rename_new(src, dst)

    monkeypatch.setattr(sink, "_rename_new", spy_new)
    # pushed (streamed into incoming/), retrieved (in memory), retrieved and large (spooled)
    for deferred, threshold in ((False, incoming.SPOOL_THRESHOLD),
                                (True, incoming.SPOOL_THRESHOLD), (True, 1000)):
        monkeypatch.setattr(incoming, "SPOOL_THRESHOLD", threshold)
        ds = synth.image(study, rows=32, columns=32, instance_number=threshold + deferred)
        buf = io.BytesIO()
        dcmwrite(buf, ds, implicit_vr=False, little_endian=True)
        inc = store.begin(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE,
                          deferred=deferred)
        inc.write(buf.getvalue())
        inc.commit()
        assert not any(ds.SOPInstanceUID in n for n in seen)
    assert len(seen) == 3
    for name in seen:
        assert name.startswith(".") and name.endswith(".part") and len(name) == 22, name
        for phi in (NAME, GIVEN, PID, study.study_uid):
            assert phi not in name
