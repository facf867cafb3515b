"""build_volumes as the job runner uses it: progress, cancel, viewer folder, bad input."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.media import (
    BuildCancelled,
    BuildError,
    BuildProgress,
    BuildStage,
    IsoCancelled,
    Profile,
    build_volumes,
    stage_tree,
    write_iso,
)
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.peers import need


def put(store: Store, study: synth.StudyInfo, count: int, ts: str = sop.EXPLICIT_VR_LE,
        size: int = 16) -> None:
    series = synth.generate_uid()
    for i in range(1, count + 1):
        ds = synth.image(study, "CT", series, 1, i, size, size)
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = ts == sop.IMPLICIT_VR_LE
        write_dataset(fp, ds)
        store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, ts, fp.getvalue())


@pytest.fixture
def small(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "store")
    study = synth.StudyInfo()
    put(store, study, 5, sop.IMPLICIT_VR_LE)
    return store, study.study_uid


def test_progress_is_reported_and_transcoded_files_stay_in_the_workdir(
        small: tuple[Store, str], tmp_path: Path) -> None:
    store, uid = small
    seen: list[BuildProgress] = []
    (volume,) = build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "work",
                              progress=seen.append)
    assert seen[-1] == BuildProgress(BuildStage.COMPOSING, 1, 1, "done")
    assert BuildProgress(BuildStage.PREPARING, 5, 5) in seen
    sources = [f.source for f in volume.dicom_files()]
    assert all(s is not None and (tmp_path / "work") in s.parents for s in sources)


def test_cancel_stops_the_build_and_leaves_no_transcoded_file(
        small: tuple[Store, str], tmp_path: Path) -> None:
    store, uid = small
    cancel = threading.Event()

    def progress(p: BuildProgress) -> None:
        cancel.set()

    put(store, synth.StudyInfo(study_uid=uid), 60, sop.IMPLICIT_VR_LE)  # past one report
    with pytest.raises(BuildCancelled):
        build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "work",
                      progress=progress, cancel=cancel)
    assert not [p for p in (tmp_path / "work").rglob("*") if p.is_file()]


def test_cancel_stops_writing_the_image(small: tuple[Store, str], tmp_path: Path) -> None:
    store, uid = small
    (volume,) = build_volumes(store, [uid], Profile.STD_GEN_DVD, None, tmp_path / "work")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(IsoCancelled):
        write_iso(volume, tmp_path / "x.iso", cancel=cancel)
    assert not list(tmp_path.glob("*.iso*")) and not list(tmp_path.glob(".x.iso*"))


def test_unknown_study_and_missing_file_are_clear_errors(small: tuple[Store, str],
                                                         tmp_path: Path) -> None:
    store, uid = small
    with pytest.raises(BuildError, match=r"study 1\.2\.3 is not in the store"):
        build_volumes(store, ["1.2.3"], Profile.STD_GEN_CD, None, tmp_path / "w")
    row = store.index.study_instances(uid)[2]
    (store.root / row.path).unlink()
    with pytest.raises(BuildError, match=f"instance {row.sop_uid} .* is missing from the store"):
        build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "w")


def test_an_instance_larger_than_the_medium_is_refused(small: tuple[Store, str],
                                                       tmp_path: Path) -> None:
    store, uid = small
    put(store, synth.StudyInfo(study_uid=uid), 1, size=512)  # 512 KiB
    with pytest.raises(BuildError, match="larger than the medium"):
        build_volumes(store, [uid], Profile.STD_GEN_DVD, 400_000, tmp_path / "w")


def test_the_viewer_folder_goes_on_every_medium(small: tuple[Store, str],
                                                tmp_path: Path) -> None:
    need("isoinfo")
    store, uid = small
    viewer = tmp_path / "viewer"
    (viewer / "Program Files" / "lib.d").mkdir(parents=True)
    (viewer / "Start Viewer.exe").write_bytes(b"MZ" + b"\0" * 100)
    (viewer / "Program Files" / "lib.d" / "a-very-long-library-name.so.1").write_bytes(b"x")
    (viewer / "Program Files" / "lib.d" / "a-very-long-library-name.so.2").write_bytes(b"y")
    settings = cfg.MediaConfig(viewer_folder=str(viewer), institution="Hôpital Nord")
    (volume,) = build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "w",
                              settings=settings)
    assert "VIEWER/Start Viewer.exe" in {f.dest for f in volume.files}
    tree = stage_tree(volume, tmp_path / "tree")
    assert (tree / "VIEWER" / "Program Files" / "lib.d" / "a-very-long-library-name.so.2"
            ).read_bytes() == b"y"
    readme = (tree / "README.TXT").read_text("utf-8")
    assert "VIEWER" in readme and "Hôpital Nord" in readme
    iso = write_iso(volume, tmp_path / "v.iso")
    plain = subprocess.run(["isoinfo", "-l", "-i", str(iso.iso)], capture_output=True,
                           text=True, check=True).stdout
    assert "START_VI.EXE;1" in plain and "A_VERY_L.2;1" in plain and "A_VERY_L.1;1" in plain
    joliet = subprocess.run(["isoinfo", "-J", "-l", "-i", str(iso.iso)], capture_output=True,
                            text=True, check=True).stdout
    assert "Start Viewer.exe" in joliet and "a-very-long-library-name.so.1" in joliet
    with pytest.raises(BuildError, match="does not exist"):
        build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "w2",
                      settings=cfg.MediaConfig(viewer_folder=str(tmp_path / "nope")))
