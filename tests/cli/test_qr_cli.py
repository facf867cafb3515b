"""`mw-tui find`, `retrieve` and `echo` end to end: subprocesses against real Orthancs."""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.store import Store
from mw_tui.store.check import check
from tests.dicom import qr_data
from tests.dicom.test_find import findscu_uids
from tests.peers import Orthanc, free_port

pacs, studies = qr_data.pacs, qr_data.studies  # the shared module fixtures


def write_config(tmp_path: Path, *archives: cfg.Archive, **station: object) -> tuple[
        Path, cfg.Config]:
    config = qr_data.config_with(tmp_path, *archives, **station)
    path = tmp_path / "config.toml"
    path.write_text(qr_data.toml_for(config))
    assert cfg.load(path) == dataclasses.replace(config, path=path)
    return path, config


def cli(config: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    options: dict[str, object] = {"capture_output": True, "text": True, "timeout": 120, **kw}
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), *args],
                          **options)  # type: ignore[call-overload]


def test_find_json_is_keyed_by_dicom_keyword(pacs: Orthanc, tmp_path: Path,
                                             studies: dict[str, qr_data.Study]) -> None:
    path, _ = write_config(tmp_path, qr_data.archive_of(pacs))
    proc = cli(path, "find", "--patient-name", "Müller*", "--study-date", "20240101-",
               "--json")
    assert proc.returncode == 0, proc.stderr
    (study,) = json.loads(proc.stdout)
    assert study["StudyInstanceUID"] == studies["muller_us"].uid
    assert study["PatientName"] == "Müller^Jürgen"
    assert study["ModalitiesInStudy"] == ["US"]
    assert study["NumberOfStudyRelatedInstances"] == 1
    assert study["archives"] == ["pacs"]
    assert {"PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
            "AccessionNumber", "StudyDescription", "ReferringPhysicianName"} <= set(study)


@pytest.mark.parametrize(("flags", "keys"), [
    (["--modality", "ct"], {"ModalitiesInStudy": "CT"}),
    (["--birth-date", "1960-01-01", "--sex", "m"], {"PatientBirthDate": "19600101",
                                                    "PatientSex": "M"}),
    (["--patient-id", "P004", "--accession", "ACC401"], {"PatientID": "P004",
                                                         "AccessionNumber": "ACC401"}),
    (["--study-date", "-20240115"], {"StudyDate": "-20240115"}),
])
def test_find_flags_select_what_findscu_selects(flags: list[str], keys: dict[str, str],
                                                 pacs: Orthanc, tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, qr_data.archive_of(pacs))
    proc = cli(path, "find", *flags, "--json")
    assert proc.returncode == 0, proc.stderr
    got = {s["StudyInstanceUID"] for s in json.loads(proc.stdout)}
    assert got and got == findscu_uids(pacs, keys)


def test_find_table_and_a_dead_archive(pacs: Orthanc, tmp_path: Path,
                                       studies: dict[str, qr_data.Study]) -> None:
    dead_port = free_port()
    dead = cfg.Archive(name="dead", ae_title="DEAD", host="127.0.0.1", port=dead_port)
    path, _ = write_config(tmp_path, qr_data.archive_of(pacs), dead)
    proc = cli(path, "find", "--patient-id", "P001")
    assert proc.returncode == 1  # an archive did not answer
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Patient") and lines[-1] == "2 studies"
    assert any(studies["doe_mr"].uid in line and "Doe^John" in line for line in lines)
    assert f"mw-tui find: dead: dead (DEAD at 127.0.0.1:{dead_port}) refused" in proc.stderr
    proc = cli(path, "find", "--archive", "pacs", "--patient-id", "nobody")
    assert proc.returncode == 0 and proc.stdout.strip() == "no matching studies"


@pytest.mark.parametrize(("args", "message"), [
    (["find", "--study-date", "2024-13-01"], "not a real date"),
    (["find", "--study-date", "20240301-20240101"], "swap the dates"),
    (["find", "--birth-date", "01.02.1970"], "write the date as YYYYMMDD"),
    (["find", "--sex", "x"], "use M, F or O"),
    (["find", "--archive", "nope"], "no archive named 'nope'"),
    (["retrieve", "--archive", "nope", "1.2.3"], "no archive named 'nope'"),
    (["retrieve", "1.2.x"], "not a valid Study Instance UID: 1.2.x"),
    (["echo", "nope"], "no archive named 'nope' in the configuration; configured archives: "
                       "pacs"),
])
def test_bad_input_exits_2_with_a_clear_message(args: list[str], message: str, pacs: Orthanc,
                                                tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, qr_data.archive_of(pacs))
    proc = cli(path, *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_retrieve_starts_a_receiver_when_none_runs(pacs: Orthanc, tmp_path: Path,
                                                   studies: dict[str, qr_data.Study]) -> None:
    path, config = write_config(tmp_path, qr_data.archive_of(pacs))
    pacs.add_modality("station", config.station.ae_title, "127.0.0.1", config.station.port)
    wanted = [studies["doe_ct"].uid, studies["muller_cr"].uid]
    proc = cli(path, "retrieve", *wanted)  # no --archive: found by searching
    assert proc.returncode == 0, proc.stderr
    assert "started this station's receiver" in proc.stderr
    assert f"retrieved {wanted[0]} from pacs: 7 images" in proc.stdout
    assert f"retrieved {wanted[1]} from pacs: 2 images" in proc.stdout
    assert "study 1/2" in proc.stdout  # plain progress lines when not on a terminal
    store = Store(config.storage)
    assert {s.study_uid: s.instances for s in store.index.studies()} == {wanted[0]: 7,
                                                                         wanted[1]: 2}
    assert check(store).ok


def test_retrieve_with_get_draws_a_progress_bar_on_a_terminal(
        pacs: Orthanc, tmp_path: Path, studies: dict[str, qr_data.Study]) -> None:
    path, config = write_config(tmp_path, qr_data.archive_of(pacs, retrieve="get"))
    uid = studies["smith_big"].uid
    master, slave = pty.openpty()
    try:
        proc = cli(path, "retrieve", "--archive", "pacs", uid, stderr=slave,
                   capture_output=False, stdout=subprocess.PIPE)
        os.close(slave)
        slave = -1
        screen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    text = screen.decode()
    assert "\rstudy 1/1 [" in text and "] 40/40 images" in text
    assert "#" * 30 in text
    assert "started this station's receiver" not in text  # C-GET needs none
    assert f"retrieved {uid} from pacs: 40 images" in proc.stdout
    assert Store(config.storage).index.study(uid).instances == 40  # type: ignore[union-attr]


def test_retrieve_failures_exit_1_with_the_reason(pacs: Orthanc, tmp_path: Path,
                                                  studies: dict[str, qr_data.Study]) -> None:
    path, config = write_config(tmp_path, qr_data.archive_of(pacs), ae_title="STRANGER")
    proc = cli(path, "retrieve", "--archive", "pacs", studies["jane_mr"].uid)
    assert proc.returncode == 1
    assert "does not know this station" in proc.stderr
    assert f"AE title STRANGER, IP address 127.0.0.1, port {config.station.port}" in proc.stderr
    proc = cli(path, "retrieve", "1.2.3.4.5")
    assert proc.returncode == 1
    assert "study 1.2.3.4.5 was found on no archive (searched pacs)" in proc.stderr


def test_echo(pacs: Orthanc, tmp_path: Path) -> None:
    dead = cfg.Archive(name="dead", ae_title="DEAD", host="127.0.0.1", port=free_port())
    path, _ = write_config(tmp_path, qr_data.archive_of(pacs), dead)
    proc = cli(path, "echo", "pacs")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"pacs (ORTHANC at 127.0.0.1:{pacs.dicom_port}) answers "
                                  "C-ECHO in ")
    proc = cli(path, "echo", "dead")
    assert proc.returncode == 1 and "refused the connection" in proc.stderr
    proc = cli(path, "echo")  # every archive
    assert proc.returncode == 1 and "answers C-ECHO" in proc.stdout and "dead" in proc.stderr
