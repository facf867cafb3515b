"""Generated images with known content, for the web previews' tests: a CT with a window,
MONOCHROME1, an enhanced (multi-frame) MR, ultrasound in YBR_FULL_422 (JPEG and native),
palette colour, rectangular pixels, damaged data."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import generate_uid

from mw_tui.demo import synth
from mw_tui.standard import sop
from mw_tui.store import Store

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
US = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
CR = "1.2.840.10008.5.1.4.1.1.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
RED, BLUE, GREEN = (200, 30, 40), (20, 40, 210), (40, 180, 60)


def _grey_module(ds: Dataset, rows: int, columns: int, bits: int = 16, stored: int = 12,
                 pi: str = "MONOCHROME2") -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = pi
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, stored, stored - 1
    ds.PixelRepresentation = 0


def quadrants(rows: int, columns: int, values: tuple[int, int, int, int]) -> np.ndarray:
    """Four uniform quadrants: top left, top right, bottom left, bottom right."""
    out = np.empty((rows, columns), dtype=np.uint16)
    h, w = rows // 2, columns // 2
    out[:h, :w], out[:h, w:], out[h:, :w], out[h:, w:] = values
    return out


def ct_windowed(study: synth.StudyInfo, raw: tuple[int, int, int, int], centre: float,
                width: float, rows: int = 128, columns: int = 128) -> Dataset:
    """A CT (rescale -1024) of four uniform quadrants of stored values `raw`, with one
    window (and a second one a viewer must not use)."""
    ds = synth.image(study, "CT", None, 1, 1, rows, columns)
    ds.PixelData = quadrants(rows, columns, raw).tobytes()
    ds.WindowCenter = [centre, centre + 500]
    ds.WindowWidth = [width, width * 3]
    return ds


def monochrome1(study: synth.StudyInfo, raw: tuple[int, int, int, int], centre: float,
                width: float) -> Dataset:
    """A CR in MONOCHROME1 (low values bright) with a window and no rescale."""
    ds = synth._base(study, CR, "CR", None, 2, 1, "CR MONOCHROME1")
    _grey_module(ds, 96, 96, pi="MONOCHROME1")
    ds.WindowCenter, ds.WindowWidth = centre, width
    ds.PixelData = quadrants(96, 96, raw).tobytes()
    return ds


def enhanced_mr(study: synth.StudyInfo, frames: int = 12, rows: int = 64,
                columns: int = 64) -> Dataset:
    """An Enhanced MR of `frames` frames whose window is in its functional groups."""
    ds = synth._base(study, ENHANCED_MR, "MR", None, 1, 1, "Enhanced MR multi-frame")
    _grey_module(ds, rows, columns)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.NumberOfFrames = frames
    yy, xx = np.mgrid[0:rows, 0:columns]
    stack = np.stack([((xx * 16 + yy * 4 + f * 50) % 1200).astype(np.uint16)
                      for f in range(frames)])
    ds.PixelData = stack.tobytes()
    voi, pvt, shared = Dataset(), Dataset(), Dataset()
    voi.WindowCenter, voi.WindowWidth = 600, 1200
    pvt.RescaleIntercept, pvt.RescaleSlope, pvt.RescaleType = 0, 1, "US"
    shared.FrameVOILUTSequence = [voi]
    shared.PixelValueTransformationSequence = [pvt]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for f in range(frames):
        content, item = Dataset(), Dataset()
        content.FrameAcquisitionNumber = f + 1
        item.FrameContentSequence = [content]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    return ds


def _colour_module(ds: Dataset, rows: int, columns: int, pi: str) -> None:
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = pi
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0


def colour_halves(rows: int, columns: int) -> np.ndarray:
    """RED on the left half, BLUE on the right (RGB)."""
    rgb = np.empty((rows, columns, 3), dtype=np.uint8)
    rgb[:, : columns // 2] = RED
    rgb[:, columns // 2:] = BLUE
    return rgb


def us_jpeg(study: synth.StudyInfo, series_uid: str, rows: int = 120,
            columns: int = 160) -> Dataset:
    """An ultrasound image as JPEG Baseline, YBR_FULL_422 (as Pillow's encoder makes it,
    chroma halved horizontally), of colour_halves()."""
    ds = synth._base(study, US, "US", series_uid, 1, 1, "US colour")
    _colour_module(ds, rows, columns, "YBR_FULL_422")
    buf = io.BytesIO()
    Image.fromarray(colour_halves(rows, columns), "RGB").save(
        buf, "JPEG", quality=95, subsampling="4:2:2")
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    _meta(ds, sop.JPEG_BASELINE)
    return ds


def ycbcr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Full-range YCbCr of an RGB colour (ITU-R BT.601, as DICOM's YBR_FULL)."""
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return round(y), round(cb), round(cr)


def us_native_422(study: synth.StudyInfo, series_uid: str, frames: int = 3, rows: int = 64,
                  columns: int = 80) -> Dataset:
    """An uncompressed US multi-frame in YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels):
    GREEN on the left half, RED on the right."""
    ds = synth._base(study, US_MULTIFRAME, "US", series_uid, 1, 2, "US colour")
    _colour_module(ds, rows, columns, "YBR_FULL_422")
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = 33.3
    row = bytearray()
    for x in range(0, columns, 2):
        y, cb, cr = ycbcr(GREEN if x < columns // 2 else RED)
        row += bytes((y, y, cb, cr))
    ds.PixelData = bytes(row) * rows * frames
    return ds


def palette(study: synth.StudyInfo) -> Dataset:
    """PALETTE COLOR, 16-bit LUT entries: index i shows (i, 255 - i, 128); the left half
    holds index 40, the right half 220."""
    ds = synth._base(study, SC, "OT", None, 3, 1, "Palette")
    _grey_module(ds, 64, 64, bits=8, stored=8, pi="PALETTE COLOR")
    pixels = np.full((64, 64), 40, dtype=np.uint8)
    pixels[:, 32:] = 220
    ds.PixelData = pixels.tobytes()
    index = np.arange(256, dtype=np.uint16)
    for name, values in (("Red", index), ("Green", 255 - index),
                         ("Blue", np.full(256, 128, dtype=np.uint16))):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{name}PaletteColorLookupTableData", (values * 257).astype("<u2").tobytes())
    return ds


def tall_pixels(study: synth.StudyInfo) -> Dataset:
    """64 rows by 128 columns of pixels twice as tall as wide (Pixel Aspect Ratio 2\\1):
    square on the screen."""
    ds = synth.image(study, "OT", None, 4, 1, 64, 128)
    ds.SOPClassUID = SC
    ds.PixelAspectRatio = [2, 1]
    return ds


def unknown_interpretation(study: synth.StudyInfo) -> Dataset:
    ds = synth.image(study, "OT", None, 5, 1, 16, 16, bits=8)
    ds.SOPClassUID = SC
    ds.PhotometricInterpretation = "HSV"
    return ds


def damaged_jpeg(study: synth.StudyInfo) -> Dataset:
    """A JPEG Baseline image whose code-stream cannot be decoded."""
    ds = synth.image(study, "OT", None, 6, 1, 16, 16, bits=8)
    ds.SOPClassUID = SC
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xdb\x00\x43" + b"\x11" * 40 + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    _meta(ds, sop.JPEG_BASELINE)
    return ds


def _meta(ds: Dataset, ts: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    ds.file_meta = meta


def new_series() -> str:
    return str(generate_uid())


def put(store: Store, ds: Dataset, ts: str = sop.EXPLICIT_VR_LE) -> str:
    """Store `ds` as the receiver would (in `ts`); its SOP Instance UID."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = ts == sop.IMPLICIT_VR_LE
    if hasattr(ds, "file_meta"):
        ds = ds.copy()
        del ds.file_meta
    write_dataset(fp, ds)
    store.store_bytes(str(ds.SOPClassUID), str(ds.SOPInstanceUID), ts, fp.getvalue())
    return str(ds.SOPInstanceUID)
