"""Converting an instance to a transfer syntax the archive accepts, when it does not
accept the instance's own: the media builder's re-encoding (`media.transcode`) to
Explicit VR Little Endian (compressed pixel data decoded, never compressed again),
then Implicit VR Little Endian for an archive that takes nothing else."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from mw_tui.importing.elements import ReadAt, read_header
from mw_tui.importing.rewrite import Prepared
from mw_tui.media.transcode import to_explicit_le
from mw_tui.standard import sop
from mw_tui.store.ingest import file_meta

CONVERT_LIMIT = 1 << 30  # larger instances are not decoded in memory


class ConvertError(Exception):
    """The instance cannot be converted; the message says why."""


def convert(item: Prepared, read_at: ReadAt, target: str, work: Path | None = None) -> bytes:
    """The data set of `item` in `target` (Explicit or Implicit VR Little Endian); its
    temporary files go to `work` (the station's work folder; the system's when None)."""
    if item.size > CONVERT_LIMIT:
        raise ConvertError(f"it takes {item.size >> 20} MiB, more than the "
                           f"{CONVERT_LIMIT >> 20} MiB this station converts")
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mw-tui-import-", dir=work) as tmp:
        source, dest = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        with open(source, "wb") as f:
            f.write(file_meta(item.sop_class_uid, item.sop_instance_uid, item.transfer_syntax))
            for chunk in item.chunks(read_at):
                f.write(chunk)
        if item.transfer_syntax != sop.EXPLICIT_VR_LE:
            to_explicit_le(source, dest)
        else:
            source.rename(dest)
        if target == sop.IMPLICIT_VR_LE:
            with warnings.catch_warnings(), pydicom_config.disable_value_validation():
                warnings.simplefilter("ignore")
                ds = dcmread(dest)
                fp = DicomBytesIO()
                fp.is_little_endian = True
                fp.is_implicit_VR = True
                write_dataset(fp, ds)
            return fp.getvalue()
        data = dest.read_bytes()
    header = read_header(lambda o, n: data[o : o + n], len(data))
    return data[header.dataset :]
