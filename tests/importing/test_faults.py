"""What goes wrong part-way: a UID the archive cannot be sent, a file whose reading fails
in the middle of a C-STORE, a medium pulled out (a folder, or a disc image cut short),
a full work disk, a mount command that hangs or cannot run, a data set written implicit
under an explicit file meta."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pydicom.filebase
import pydicom.filewriter
import pytest

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.importing import (
    ImportPlan,
    LocalPatient,
    MediumError,
    RecordError,
    opening,
    read_medium,
    reading,
    scan,
    send,
)
from mw_tui.importing.channels import StoreChannel, proposals
from mw_tui.importing.elements import ReadAt, read_header
from mw_tui.importing.opening import MountedSource
from mw_tui.importing.rewrite import Changes, prepare
from mw_tui.importing.sources import FileEntry, FolderSource
from mw_tui.standard import sop
from tests.importing.conftest import (
    config_for,
    ct_files,
    outside_ct,
    send_and_count,
    write_disc,
)
from tests.peers import PYDICOM_TEST_FILES, Orthanc

LOCAL = LocalPatient("LOC-0815", "OUR_HOSPITAL", "Doe^John", "19600214", "M")


def folder_of(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A copied disc without DICOMDIR: every file is probed and read."""
    root = tmp_path / "medium"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def ct_folder(tmp_path: Path, count: int, rows: int = 32) -> Path:
    return folder_of(tmp_path, {f"DICOM/CT{i:06d}": synth.part10(ds)
                                for i, ds in enumerate(outside_ct(count, rows), 1)})


class Flaky(FolderSource):
    """A folder whose file `path` fails with `err` once reading passes byte `after`
    (after `armed`): a medium pulled out, a bad sector."""

    def __init__(self, root: Path, path: str, err: int, after: int = 0) -> None:
        super().__init__(root)
        self.path, self.err, self.after = path, err, after
        self.armed = True

    @contextlib.contextmanager
    def opened(self, entry: FileEntry) -> Iterator[ReadAt]:
        with super().opened(entry) as read_at:
            if entry.path != self.path:
                yield read_at
                return

            def flaky(offset: int, size: int) -> bytes:
                if self.armed and offset + size > self.after:
                    raise OSError(self.err, os.strerror(self.err))
                return read_at(offset, size)

            yield flaky


# -- 1. a SOP Instance UID that is not a UID ----------------------------------------------

def with_bad_uid(tmp_path: Path) -> tuple[Path, str]:
    """Three CT images; the second's SOP Instance UID holds a non-ASCII byte."""
    datasets = outside_ct(3)
    files = {f"DICOM/CT{i:06d}": synth.part10(ds) for i, ds in enumerate(datasets, 1)}
    uid = str(datasets[1].SOPInstanceUID).encode()
    bad = uid[:-1] + b"\xe9"
    files["DICOM/CT000002"] = files["DICOM/CT000002"].replace(uid, bad)
    return folder_of(tmp_path, files), "DICOM/CT000002"


def test_an_instance_whose_uid_is_not_a_uid_is_listed_as_unreadable(tmp_path: Path) -> None:
    root, path = with_bad_uid(tmp_path)
    medium = read_medium(root)
    assert medium.instance_count == 2
    (bad,) = medium.unreadable
    assert bad.path == path and "SOP Instance UID" in bad.reason
    assert "not a valid UID" in bad.reason
    assert bad.study_uid == medium.studies[0].study_uid


def test_an_unexpected_error_fails_that_instance_and_the_send_goes_on(
        tmp_path: Path, empty_pacs: Orthanc, monkeypatch: pytest.MonkeyPatch) -> None:
    """Had the reading let it through, the UnicodeEncodeError of the C-STORE request must
    fail that instance (not end the sending thread and lose it)."""
    root, path = with_bad_uid(tmp_path)
    monkeypatch.setattr(reading, "is_valid_uid", lambda value: True)
    medium = read_medium(root)
    assert medium.instance_count == 3
    config = config_for(tmp_path, empty_pacs, associations=1)
    result = send(config, medium, ImportPlan.make(config, LOCAL))
    assert result.sent == 2
    (failure,) = result.failures
    assert failure.path == path and not failure.connection
    assert empty_pacs.instance_count() == 2


def test_a_confirmed_instance_that_cannot_be_written_down_stops_the_send(
        tmp_path: Path, empty_pacs: Orthanc) -> None:
    medium = read_medium(ct_folder(tmp_path, 6))
    config = config_for(tmp_path, empty_pacs, associations=2)
    written: list[str] = []

    def full_disk(c: object) -> None:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(str(c))

    with pytest.raises(RecordError, match="cannot be written down") as info:
        send(config, medium, ImportPlan.make(config, LOCAL), on_confirmed=full_disk)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert len(written) == 2


# -- 2. reading fails in the middle of a C-STORE ------------------------------------------

def test_a_file_failing_part_way_aborts_the_association(tmp_path: Path,
                                                        empty_pacs: Orthanc) -> None:
    root = ct_folder(tmp_path, 1, rows=1024)  # 2 MiB of pixels: more than one send
    config = config_for(tmp_path, empty_pacs)
    source = Flaky(root, "DICOM/CT000001", errno.EBADMSG, after=1536 * 1024)
    source.armed = False
    (entry,) = source.listing().files
    with source.opened(entry) as read_at:
        header = read_header(read_at, entry.size)
        prepared = prepare(header, read_at, Changes(None))
        source.armed = True
        channel = StoreChannel(config, config.archives[0],
                               proposals([(prepared.sop_class_uid, prepared.transfer_syntax)]))
        try:
            with pytest.raises(OSError):
                channel.send(prepared, read_at, lambda: False)
            assert channel.broken
            assert not channel.assoc.link.is_open  # aborted, not left mid-data-set
        finally:
            channel.close()
    source.close()


def test_a_file_failing_part_way_fails_alone(tmp_path: Path, empty_pacs: Orthanc) -> None:
    root = ct_folder(tmp_path, 3, rows=1024)
    source = Flaky(root, "DICOM/CT000001", errno.EBADMSG, after=1536 * 1024)
    source.armed = False
    medium = scan(source)
    source.armed = True
    config = config_for(tmp_path, empty_pacs, associations=1)
    result = send(config, medium, ImportPlan.make(config, LOCAL), source=source)
    source.close()
    assert result.sent == 2
    (failure,) = result.failures
    assert failure.path == "DICOM/CT000001" and "cannot be read" in failure.reason
    assert empty_pacs.instance_count() == 2


# -- 3. implicit VR under an Explicit VR Little Endian file meta --------------------------

def test_implicit_data_under_an_explicit_meta_is_sent_as_implicit(
        tmp_path: Path, empty_pacs: Orthanc) -> None:
    (ds,) = outside_ct(1)
    explicit = synth.part10(ds)
    start = read_header(lambda o, n: explicit[o : o + n], len(explicit)).dataset
    fp = pydicom.filebase.DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    pydicom.filewriter.write_dataset(fp, ds)
    root = folder_of(tmp_path, {"DICOM/CT000001": explicit[:start] + fp.getvalue()})
    medium = read_medium(root)
    (x,) = medium.located()
    assert x.instance.transfer_syntax == sop.IMPLICIT_VR_LE
    config = config_for(tmp_path, empty_pacs)
    result = send_and_count(config, medium, ImportPlan.make(config, LOCAL))
    assert result.ok, result.message
    (iid,) = empty_pacs.get("/instances")
    tags = empty_pacs.get(f"/instances/{iid}/simplified-tags")
    assert tags["PatientID"] == "LOC-0815"
    assert tags["StudyDescription"] == "Outside CT"


# -- 4. a mount command that hangs or cannot run ------------------------------------------

def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def mount_config(tmp_path: Path, command: Path) -> cfg.Config:
    return config_for(tmp_path, mount_command=f"{command} {{device}} {{mountpoint}}",
                      unmount_command="true {mountpoint}")


def test_a_mount_command_that_hangs_says_to_insert_the_medium_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opening, "_MOUNT_TIMEOUT", 0.5)
    hangs = script(tmp_path / "hangs", "#!/bin/sh\nexec sleep 60\n")
    with pytest.raises(MediumError, match=r"did not answer.*take it out and insert it again"):
        MountedSource(tmp_path / "sdz", mount_config(tmp_path, hangs))
    assert list((tmp_path / "mnt").iterdir()) == []  # the mount folder is gone


def test_a_mount_command_that_cannot_run_says_so(tmp_path: Path) -> None:
    broken = script(tmp_path / "broken", "#!/nonexistent/interpreter\n")
    with pytest.raises(MediumError, match=r"did not answer.*take it out and insert it again"):
        MountedSource(tmp_path / "sdz", mount_config(tmp_path, broken))
    assert list((tmp_path / "mnt").iterdir()) == []


def test_a_mount_folder_that_cannot_be_made_says_so(tmp_path: Path) -> None:
    (tmp_path / "mnt").write_text("a file where the mount folder should be")
    with pytest.raises(MediumError, match=r"\[devices\] mount_folder"):
        MountedSource(tmp_path / "sdz", mount_config(tmp_path, Path("/bin/true")))


# -- 5. conversions in the station's work folder ------------------------------------------

def test_a_conversion_uses_the_work_folder_not_the_system_temp(
        tmp_path: Path, receiver: object, station_config: cfg.Config,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The station's own receiver does not take RLE: the image is converted, in the work
    folder (the system's temporary folder is not there)."""
    root = folder_of(tmp_path, {"PYD/F0000001": (PYDICOM_TEST_FILES / "SC_rgb_rle.dcm")
                                .read_bytes()})
    s = station_config.station
    work = tmp_path / "work"
    config = cfg.Config(station=s, archives=(cfg.Archive(name="self", ae_title=s.ae_title,
                                                         host="127.0.0.1", port=s.port),),
                        media=dataclasses.replace(station_config.media, work=str(work)))
    medium = read_medium(root)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    result = send(config, medium, ImportPlan.make(config, LOCAL))
    assert result.ok, result.message
    assert result.converted == 1
    assert work.is_dir() and list(work.iterdir()) == []  # nothing left behind


# -- 6. a medium pulled out part-way ------------------------------------------------------

@pytest.mark.parametrize("err", [errno.EIO, errno.ENOMEDIUM, errno.ENODEV, errno.ENXIO])
def test_a_medium_that_stops_answering_while_read_stops_the_reading(
        tmp_path: Path, err: int) -> None:
    source = Flaky(ct_folder(tmp_path, 3), "DICOM/CT000002", err)
    with pytest.raises(MediumError, match="stopped answering"):
        scan(source)
    source.close()


def test_another_read_error_is_that_file_s_alone(tmp_path: Path) -> None:
    source = Flaky(ct_folder(tmp_path, 3), "DICOM/CT000002", errno.EACCES, after=200)
    medium = scan(source)
    source.close()
    assert medium.instance_count == 2
    (bad,) = medium.unreadable
    assert bad.path == "DICOM/CT000002" and "cannot be read" in bad.reason


def test_a_medium_pulled_out_while_sent_stops_the_send(tmp_path: Path,
                                                       empty_pacs: Orthanc) -> None:
    source = Flaky(ct_folder(tmp_path, 4), "DICOM/CT000003", errno.EIO)
    source.armed = False
    medium = scan(source)
    source.armed = True
    config = config_for(tmp_path, empty_pacs, associations=1)
    confirmed: list[str] = []
    with pytest.raises(MediumError, match="stopped answering"):
        send(config, medium, ImportPlan.make(config, LOCAL), source=source,
             on_confirmed=lambda c: confirmed.append(c.sop_instance_uid))
    assert len(confirmed) == 2  # what went before is confirmed (and kept by a job)
    source.armed = False  # put back: only the others are sent
    again = send(config, medium, ImportPlan.make(config, LOCAL), source=source,
                 confirmed=confirmed)
    source.close()
    assert again.ok and again.sent == 2 and again.skipped == 2


# -- 7. a disc or disc image read with pycdlib that ends part-way -------------------------

def test_an_image_cut_short_after_it_was_opened_stops_the_reading(tmp_path: Path) -> None:
    """The image (or the disc under the drive's device) is gone once opened: reading
    says so instead of finding a medium without DICOM files."""
    disc = write_disc(tmp_path, ct_files(outside_ct(3)))
    with opening.open_source(disc.iso) as source:
        os.truncate(disc.iso, 0)
        with pytest.raises(MediumError, match=r"stopped answering .* taken out\? Insert it"):
            scan(source)


def test_an_image_cut_short_while_sent_stops_the_send(tmp_path: Path,
                                                       empty_pacs: Orthanc) -> None:
    disc = write_disc(tmp_path, ct_files(outside_ct(4)))
    config = config_for(tmp_path, empty_pacs, associations=1)
    confirmed: list[str] = []
    with opening.open_source(disc.iso) as source:
        medium = scan(source)
        last = max(source.listing().files, key=lambda f: f.location)  # its data end the image
        assert last.path.startswith("DICOM/CT")
        os.truncate(disc.iso, last.location + last.size // 2)
        with pytest.raises(MediumError, match="stopped answering"):
            send(config, medium, ImportPlan.make(config, LOCAL), source=source,
                 on_confirmed=lambda c: confirmed.append(c.path))
    assert last.path not in confirmed
    assert empty_pacs.instance_count() == len(confirmed) < 4
