"""Web previews of one image instance: the display pipeline of a viewer, saved as JPEG.

Runs in the builder's worker processes (see webimages.py), one instance per call, reading
the store's file (at once when small, else frame by frame, so a worker never holds a large
multi-frame instance): each frame (up to a limit, evenly spread over the instance)
goes through the Modality LUT (rescale), the instance's first VOI window (else its VOI LUT,
else a window over the frame's pixel range) and MONOCHROME1 inversion, or the colour
conversion (YBR_FULL / YBR_FULL_422 to RGB, palette colour through its LUTs); non-square
pixels are corrected, the picture is scaled down (never up) and saved by Pillow. The LUTs
and colour spaces are pydicom's (`pydicom.pixels`); compressed data is decoded by the
decoders the media builder uses (pylibjpeg, openjpeg, pyjpegls, pydicom's RLE).
"""

from __future__ import annotations

import io
import os
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    convert_color_space,
    pixel_array,
)
from pydicom.uid import DeflatedExplicitVRLittleEndian as DEFLATED
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from mw_tui.media import quickhead
from mw_tui.media.volume import Pack

THUMBNAIL = 160  # longest edge of a thumbnail, in pixels
LUT_LIMIT = 1 << 17  # stored-value ranges up to this go through a lookup table
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT")
PALETTE = "PALETTE COLOR"
NATIVE_LE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
WHOLE_FILE = 8 << 20  # files up to this size are read once, whole; larger ones by frame


@dataclass(frozen=True, slots=True)
class RenderTask:
    """One instance to render: its file, and how."""

    sop_uid: str
    source: Path
    full: bool  # previews at `size` too (else the thumbnail only)
    size: int = 1024
    quality: int = 85
    frames: int = 50  # most frames of a multi-frame instance
    thumbnail: int = THUMBNAIL


@dataclass(frozen=True, slots=True)
class Preview:
    """A JPEG picture: `size` bytes of the pack file `path` from `offset`; `frame` of the
    instance (from 1), its pixels."""

    frame: int
    path: Path
    size: int
    width: int
    height: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Rendering:
    """The previews of one image instance, or why there are none (`problem`)."""

    sop_uid: str
    frames: tuple[Preview, ...] = ()  # full-size previews (none when only thumbnails)
    thumbnail: Preview | None = None
    frame_count: int = 1  # frames the instance has
    window: str = ""  # how its grey levels were chosen, in words
    original: tuple[int, int] = (0, 0)  # columns, rows of the instance
    problem: str = ""  # why there is no preview ("" when there is)
    lasting: bool = True  # False: the problem may go (a file missing, a full disk)


class Unshowable(Exception):
    """The instance's pixels are not something a preview can show; says why."""


def init_worker(nice: int = 0) -> None:
    """In each worker process: Ctrl-C is for the builder (it stops the workers); `nice`:
    how much lower its priority is (previews made ahead use only what the CPU has left)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")
    if nice:
        os.nice(nice)


def warm() -> None:
    """Load what a process's first rendering would (Pillow's JPEG encoder, the parts of
    pydicom the header and the LUTs use: 15 ms), in the process the workers are forked
    from: each worker then starts at full speed instead of loading them again."""
    part10 = io.BytesIO()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "2.25.1"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 1, -1024, 40, 400
    ds.PixelSpacing = [0.5, 0.5]
    ds.PixelData = bytes(128)
    ds.save_as(part10, enforce_file_format=True)
    quick = quickhead.parse(part10.getvalue())
    header = quick.params if quick is not None else ds
    frame = quick.frame(0) if quick is not None else None
    params = display_parameters(header)
    picture, _ = display(frame if frame is not None else np.zeros((8, 8), np.uint16),
                         params, "MONOCHROME2")
    picture.reduce(2).save(io.BytesIO(), "JPEG", quality=85)
    pixel_aspect(params)


def render_instance(task: RenderTask, pack: Pack) -> Rendering | None:
    """The previews of `task`, written into `pack` (None when the instance has no pixel
    data: not an image). Never raises for bad data: the rendering then says what is
    wrong (what it wrote of that instance stays in the pack, unused)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _render(task, pack)
    except Exception as exc:  # decoders raise many kinds of errors on damaged data
        if isinstance(exc, Unshowable):
            return Rendering(task.sop_uid, problem=str(exc))
        text = " ".join(str(exc).split())[:160] or type(exc).__name__
        return Rendering(task.sop_uid, problem=f"its pixel data cannot be read ({text})",
                         lasting=not isinstance(exc, OSError))


def render_many(tasks: list[RenderTask], pack: Path, atomic: bool = False
                ) -> list[Rendering | None]:
    """`render_instance()` of each task (a worker takes a few at a time), into one new
    pack file `pack` (see `Pack`; removed when no picture went into it)."""
    into = Pack(pack, atomic)
    try:
        out = [render_instance(t, into) for t in tasks]
    except BaseException:
        into.abandon()
        raise
    if into.size:
        into.close()
    else:
        into.abandon()
    return out


def _render(task: RenderTask, pack: Pack) -> Rendering | None:
    size = task.source.stat().st_size
    whole = size <= WHOLE_FILE  # else frame by frame from the file
    quick = quickhead.load(task.source, size) if whole else None  # most: grey, native
    if quick is not None:
        header, pi = quick.params, quick.pi
        columns, rows, count = quick.columns, quick.rows, quick.frames
    else:
        header = dcmread(task.source, defer_size=None if whole else "64 KB")
        if not any(k in header for k in PIXEL_KEYWORDS):
            return None
        if "Rows" not in header or "Columns" not in header:
            raise Unshowable("it does not say how many rows and columns its pixels have")
        columns, rows = int(header.Columns), int(header.Rows)
        count = int(header.get("NumberOfFrames") or 1)
        pi = str(header.get("PhotometricInterpretation", "")).strip().upper()
    if pi not in (*GREY, *COLOUR, PALETTE):
        raise Unshowable(f"its photometric interpretation {pi or '(none)'} is not one a "
                         "preview can show")
    picks = pick_frames(count, task.frames)
    thumb_at = picks[len(picks) // 2]
    wanted = picks if task.full else [thumb_at]
    if not whole and header.file_meta.get("TransferSyntaxUID") == DEFLATED:
        header, whole = dcmread(task.source), True  # it can only be inflated whole
    # a large file one frame at a time (pydicom's iter_pixels() misreads native
    # YBR_FULL_422 frames from a file, pixel_array() with an index does not)
    source: Path | Dataset = header if whole else task.source
    params = display_parameters(header)
    aspect = pixel_aspect(params)
    previews: list[Preview] = []
    thumbnail: Preview | None = None
    window = ""
    for index in wanted:
        if quick is not None:
            frame: np.ndarray | None = quick.frame(index)
        else:
            frame = native_frame(header, index, pi) if whole else None
        if frame is None:
            frame = pixel_array(source, index=index, raw=True)
        picture, window = display(frame, params, pi)
        if task.full:
            previews.append(_save(picture, aspect, task.size, task.quality, pack, index + 1))
        if index == thumb_at:
            thumbnail = _save(picture, aspect, task.thumbnail, task.quality, pack, index + 1,
                              thumbnail=True)
    if thumbnail is None:
        raise Unshowable("its frames cannot be read")
    return Rendering(task.sop_uid, tuple(previews), thumbnail, count, window,
                     (columns, rows))


def native_frame(ds: Dataset, index: int, pi: str) -> np.ndarray | None:
    """Frame `index` of a grey image stored natively, little endian, 8 or 16 bits, as a
    view of the dataset's Pixel Data (what `pixel_array(raw=True)` gives, without its
    copies); None for anything else (the caller then asks pydicom)."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts not in NATIVE_LE or pi not in GREY or int(ds.get("SamplesPerPixel") or 1) != 1:
        return None
    bits, stored = int(ds.get("BitsAllocated") or 0), int(ds.get("BitsStored") or 0)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    data = ds.get("PixelData")
    if bits not in (8, 16) or not 0 < stored <= bits or not isinstance(data, bytes):
        return None
    rows, columns = int(ds.Rows), int(ds.Columns)
    if rows <= 0 or columns <= 0 or len(data) < (index + 1) * rows * columns * bits // 8:
        return None
    frames = int(ds.get("NumberOfFrames") or 1)
    return quickhead.Grey(ds, pi, rows, columns, frames, bits, stored, signed,
                          memoryview(data)).frame(index)


def pick_frames(count: int, limit: int) -> list[int]:
    """Indices of at most `limit` frames of `count`, evenly spread, first and last kept."""
    if count <= limit:
        return list(range(count))
    if limit <= 1:
        return [count // 2]
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def display_parameters(ds: Dataset) -> Dataset:
    """`ds`, with the rescale and window of an enhanced multi-frame object (kept in its
    functional groups) lifted to the top level, where pydicom's LUT functions look."""
    groups = [*(ds.get("SharedFunctionalGroupsSequence") or [])[:1],
              *(ds.get("PerFrameFunctionalGroupsSequence") or [])[:1]]
    for group in groups:
        for seq, keywords in (("PixelValueTransformationSequence",
                               ("RescaleSlope", "RescaleIntercept", "RescaleType")),
                              ("FrameVOILUTSequence",
                               ("WindowCenter", "WindowWidth", "VOILUTFunction"))):
            items = group.get(seq) or []
            for keyword in keywords:
                if items and keyword in items[0] and keyword not in ds:
                    setattr(ds, keyword, items[0].get(keyword))
    return ds


def pixel_aspect(ds: Dataset) -> float:
    """Height over width of one pixel: Pixel Aspect Ratio, else the pixel spacing."""
    for keyword in ("PixelAspectRatio", "PixelSpacing", "ImagerPixelSpacing"):
        try:
            vertical, horizontal = (float(v) for v in ds.get(keyword) or ())
        except (TypeError, ValueError):
            continue
        if vertical > 0 and horizontal > 0:
            return vertical / horizontal
    return 1.0


def display(arr: np.ndarray, ds: Dataset, pi: str) -> tuple[Image.Image, str]:
    """The 8-bit picture of one frame, and the window used, in words."""
    if pi == PALETTE:
        rgb = apply_color_lut(arr, ds)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return Image.fromarray(_to_8bit(rgb, bits), "RGB"), "palette colour of the image"
    if pi in COLOUR:
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise Unshowable(f"it says {pi} but its pixels are not three samples each")
        if pi in ("YBR_FULL", "YBR_FULL_422"):  # the 4:2:2 ones come decoded as full YBR
            arr = convert_color_space(arr, "YBR_FULL", "RGB")
        bits = int(ds.get("BitsStored") or arr.dtype.itemsize * 8)
        return Image.fromarray(_to_8bit(arr, bits), "RGB"), "colour image (no window)"
    if arr.ndim != 2:
        raise Unshowable(f"it says {pi} but its pixels are not one sample each")
    grey, window = _grey(arr, ds)
    if pi == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(grey, "L"), window


def _to_8bit(arr: np.ndarray, bits: int) -> np.ndarray:
    if arr.dtype == np.uint8 and bits <= 8:
        return np.ascontiguousarray(arr)
    top = float((1 << max(1, min(bits, 32))) - 1)
    return np.clip(arr.astype(np.float32) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def _grey(arr: np.ndarray, ds: Dataset) -> tuple[np.ndarray, str]:
    """Modality LUT, then VOI, to 0..255: through a lookup table over the frame's stored
    values when they are integers of a modest range (the pydicom functions then run on at
    most LUT_LIMIT values instead of every pixel)."""
    if arr.dtype.kind in "iu" and arr.size:
        low, high = int(arr.min()), int(arr.max())
        if high - low < LUT_LIMIT:
            start = 0 if low >= 0 and high < LUT_LIMIT else low
            domain = np.arange(start, high + 1, dtype=np.int64)
            table, window = _voi(apply_modality_lut(domain, ds), ds,
                                 slice(low - start, high - start + 1))
            if start == 0:
                return np.take(table, arr), window
            if arr.dtype.itemsize <= 2:  # negative values: the table by their bit patterns
                size = 1 << (8 * arr.dtype.itemsize)  # (no wider copy of the frame)
                by_pattern = np.zeros(size, np.uint8)
                by_pattern[domain & (size - 1)] = table
                return np.take(by_pattern, arr.view(f"<u{arr.dtype.itemsize}")), window
            return np.take(table, arr.astype(np.int64) - start), window
    values = apply_modality_lut(arr.astype(np.float64), ds)
    return _voi(values, ds, slice(None))


def _voi(values: np.ndarray, ds: Dataset, present: slice) -> tuple[np.ndarray, str]:
    """The VOI transform of modality `values` to 0..255: the first window of the image,
    else its VOI LUT, else a window over the values of the frame's pixels (`present`)."""
    window = _first_window(ds)
    if window is not None:
        centre, width = window
        ends = apply_voi_lut(np.array([centre - 10 * width, centre + 10 * width]), ds, 0,
                             prefer_lut=False)
        out = apply_voi_lut(values, ds, 0, prefer_lut=False)
        return _scale(out, float(ends[0]), float(ends[1])), (
            f"window centre {centre:g}, width {width:g} (from the image)")
    lut = _first_voi_lut(ds)
    if lut is not None:
        out = apply_voi_lut(values, ds, 0, prefer_lut=True)
        explanation = str(lut.get("LUTExplanation", "") or "").strip()
        data = np.asarray(lut.LUTData, dtype=np.float64)
        return _scale(out, float(data.min()), float(data.max())), (
            "VOI LUT of the image" + (f" ({explanation})" if explanation else ""))
    seen = values[present]  # a modality LUT need not be monotonic: look at every value
    low, high = float(seen.min()), float(seen.max())
    width = max(high - low, 1.0)
    return _scale(values, low, low + width), (
        f"window centre {(low + high) / 2:g}, width {width:g} (the image names none: "
        "the range of its pixel values)")


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    span = max(high - low, 1e-9)
    out = (np.asarray(values, dtype=np.float64) - low) * (255.0 / span) + 0.5
    return np.clip(out, 0, 255).astype(np.uint8)


def _first_window(ds: Dataset) -> tuple[float, float] | None:
    try:
        centre, width = (_first(ds.get(k)) for k in ("WindowCenter", "WindowWidth"))
    except (TypeError, ValueError):
        return None
    if centre is None or width is None or not np.isfinite([centre, width]).all():
        return None
    return (centre, width) if width >= 1 else None


def _first(value: Any) -> float | None:
    """The first number of a DS value (single or multi-valued)."""
    if value is None or value == "":
        return None
    if isinstance(value, str | bytes):
        return float(value)
    try:
        return float(value[0]) if len(value) else None
    except TypeError:
        return float(value)


def _first_voi_lut(ds: Dataset) -> Dataset | None:
    items = ds.get("VOILUTSequence") or []
    if items and "LUTData" in items[0] and "LUTDescriptor" in items[0]:
        item: Dataset = items[0]
        return item
    return None


def _save(picture: Image.Image, aspect: float, limit: int, quality: int, pack: Pack,
          frame: int, thumbnail: bool = False) -> Preview:
    """`picture` with square pixels, its longest edge at most `limit`, as a JPEG in
    `pack` (a thumbnail may come out smaller: reduced by a whole factor)."""
    width, height = picture.size
    factor = -(-max(width, height) // limit)
    if thumbnail and factor > 1 and 0.99 <= aspect <= 1.01:
        picture = picture.reduce(factor)  # a thumbnail: the mean of each square of pixels
        width, height = picture.size
    if aspect > 1.01:  # tall pixels: narrow the picture (never enlarge it)
        width = max(1, round(width / aspect))
    elif aspect < 0.99:
        height = max(1, round(height * aspect))
    scale = min(1.0, limit / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != picture.size:  # a box reduction by a whole factor first: fast and fair
        picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    offset = pack.add(buffer.getbuffer())
    return Preview(frame, pack.path, buffer.tell(), size[0], size[1], offset)
