"""Re-encoding an instance as Explicit VR Little Endian for profiles that need it.

Implicit VR, big endian and deflated input is re-encoded without touching a value; compressed
pixel data is decoded (JPEG family with pylibjpeg-libjpeg, JPEG 2000 with pylibjpeg-openjpeg,
JPEG-LS with pyjpegls, RLE with pydicom) and never compressed again. An instance that was
lossy-compressed keeps saying so: Lossy Image Compression "01", with its ratio and method
filled in when the sender left them out. The SOP Instance UID is kept (decoding changes no
pixel value), and the new file carries this station's implementation UID.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from mw_tui.media.profiles import LOSSY_METHODS
from mw_tui.standard import sop
from mw_tui.store.ingest import file_meta


class TranscodeError(Exception):
    """The instance cannot be re-encoded; the message says why."""


@dataclass(frozen=True, slots=True)
class Transcoded:
    path: Path
    size: int
    source_syntax: str
    lossy: bool  # the pixel data had been lossy-compressed


_SWAP = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def to_explicit_le(source: Path, dest: Path) -> Transcoded:
    """Write `source` (a Part 10 file) to `dest` as Explicit VR Little Endian."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(source)
    except Exception as exc:
        raise TranscodeError(f"cannot be read: {exc}") from exc
    ts = UID(str(ds.file_meta.get("TransferSyntaxUID", sop.IMPLICIT_VR_LE)))
    source_ae = str(ds.file_meta.get("SourceApplicationEntityTitle", "") or "")
    lossy = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ts.is_compressed and "PixelData" in ds:
                lossy = _decode(ds, ts)
            elif not ts.is_little_endian:
                _swap_to_little_endian(ds)
    except TranscodeError:
        raise
    except Exception as exc:  # decoders raise many kinds of errors on bad streams
        raise TranscodeError(f"its {ts.name} pixel data cannot be decoded: {exc}") from exc
    for elem in [e for e in ds if e.tag.group == 0x0002]:
        del ds[elem.tag]  # file meta elements misplaced in the data set
    tmp = dest.with_name(dest.name + ".part")
    try:
        with open(tmp, "wb") as raw:
            raw.write(file_meta(str(ds.SOPClassUID), str(ds.SOPInstanceUID),
                                sop.EXPLICIT_VR_LE, source_ae))
            fp = DicomFileLike(raw)
            fp.is_little_endian = True
            fp.is_implicit_VR = False
            with warnings.catch_warnings(), pydicom_config.disable_value_validation():
                warnings.simplefilter("ignore")
                write_dataset(fp, ds)
        os.replace(tmp, dest)
    except TranscodeError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise TranscodeError(f"cannot be written as Explicit VR Little Endian: {exc}") from exc
    return Transcoded(dest, dest.stat().st_size, str(ts), lossy)


def _decode(ds: Dataset, ts: UID) -> bool:
    """Decode the pixel data in place; returns whether it had been lossy-compressed."""
    from pydicom.pixels import get_decoder
    from pydicom.pixels.utils import decompress

    decoder = get_decoder(ts)
    if decoder is None or not decoder.is_available:
        raise TranscodeError(f"no decoder for {ts.name} is installed")
    compressed = _encapsulated_size(ds)
    lossy = is_lossy(ds, ts)
    decompress(ds, as_rgb=True, generate_instance_uid=False)
    if lossy:
        mark_lossy(ds, ts, compressed)
    return lossy


def _encapsulated_size(ds: Dataset) -> int:
    value = ds["PixelData"].value
    return len(value) if isinstance(value, bytes | bytearray) else 0


def is_lossy(ds: Dataset, ts: str) -> bool:
    """Whether the pixel data of `ds` (in transfer syntax `ts`) went through lossy
    compression: the data set says so, or the transfer syntax is lossy by nature, or it is
    JPEG 2000 with the irreversible wavelet."""
    if str(ds.get("LossyImageCompression", "")).strip() == "01":
        return True
    if ts == sop.JPEG_2000:
        return _j2k_irreversible(ds)
    return ts in LOSSY_METHODS


def _j2k_irreversible(ds: Dataset) -> bool:
    """True when the first JPEG 2000 code-stream uses the 9-7 irreversible transform."""
    from pydicom.encaps import generate_fragments

    try:
        first = next(generate_fragments(ds["PixelData"].value))
    except Exception:
        return True  # cannot tell: say lossy (never claims a lossy image is original)
    pos = first.find(b"\xff\x52")  # COD marker in the main header
    if pos < 0 or pos + 14 > len(first):
        return True
    return first[pos + 13] == 0  # SPcod transformation: 0 = 9-7 irreversible, 1 = 5-3


def mark_lossy(ds: Dataset, ts: str, compressed_size: int) -> None:
    """Lossy Image Compression "01" with ratio and method, keeping values already there."""
    ds.LossyImageCompression = "01"
    if not ds.get("LossyImageCompressionMethod"):
        ds.LossyImageCompressionMethod = LOSSY_METHODS.get(ts, "ISO_10918_1")
    if not ds.get("LossyImageCompressionRatio") and compressed_size > 0:
        pixels = ds["PixelData"].value
        if isinstance(pixels, bytes | bytearray) and len(pixels) > 0:
            ds.LossyImageCompressionRatio = f"{len(pixels) / compressed_size:.2f}"[:16]


def _swap_to_little_endian(ds: Dataset) -> None:
    """Byte-swap the values pydicom keeps as raw bytes (OW, OF, OL, OD, OV) from big
    endian; numbers with other VRs are decoded and re-encoded by pydicom itself."""
    bits = int(ds.get("BitsAllocated", 16) or 16)
    for elem in ds.iterall():
        value = elem.value
        if not isinstance(value, bytes | bytearray) or not value:
            continue
        if elem.tag == 0x7FE00010:
            size = bits // 8 if bits in (16, 32, 64) else (2 if elem.VR == "OW" else 1)
        else:
            size = _SWAP.get(str(elem.VR), 1)
        if size > 1:
            elem.value = _swapped(bytes(value), size)


def _swapped(data: bytes, size: int) -> bytes:
    usable = len(data) - len(data) % size
    dtype = np.dtype(f">u{size}")
    out = np.frombuffer(data[:usable], dtype=dtype).astype(dtype.newbyteorder("<")).tobytes()
    return out + data[usable:]


def dataset_is_explicit(path: Path, offset: int) -> bool:
    """Whether the data set of a Part 10 file really starts in explicit VR (some senders
    announce Explicit VR and write implicit VR)."""
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(8)
    if len(head) < 6:
        return True  # empty data set: nothing to re-encode
    group = struct.unpack_from("<H", head)[0]
    return group != 0 and 65 <= head[4] <= 90 and 65 <= head[5] <= 90
