"""The web previews show what a viewer shows: grey levels, inversion, colours and shapes
checked on the medium against references computed here from the stored values."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.fileset import FileSet

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.media import Profile, Volume, build_volumes, render, stage_tree
from mw_tui.standard import sop
from mw_tui.store import Store
from tests.media import images as im

CT_RAW = (1024, 824, 1224, 1104)  # HU 0, -200, 200, 80 with the rescale of -1024
MONO1_RAW = (100, 300, 500, 700)
JPEG_ERROR = 4  # grey levels a uniform area may move by in a JPEG of quality 85


def linear_window(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, LINEAR, to 0..255: the reference, written from the standard."""
    x = np.asarray(x, dtype=float)
    low, high = centre - 0.5 - (width - 1) / 2, centre - 0.5 + (width - 1) / 2
    y = ((x - (centre - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(x <= low, 0.0, np.where(x > high, 255.0, y))


@dataclass
class Medium:
    volume: Volume
    tree: Path
    uids: dict[str, str]  # name -> SOP Instance UID

    def pages(self, name: str) -> list[str]:
        """The image pages of instance `name`, in stack order."""
        dest = self._dest(name)
        out = []
        for page in sorted((self.tree / "IHE_PDI").glob("SER*/B*/I*.HTM")):
            text = page.read_text("utf-8")
            if f"the DICOM file {dest}." in text:
                out.append(text)
        return out

    def previews(self, name: str) -> list[np.ndarray]:
        """The previews of instance `name` as its pages show them."""
        dest = self._dest(name)
        out = []
        for page in sorted((self.tree / "IHE_PDI").glob("SER*/B*/I*.HTM")):
            text = page.read_text("utf-8")
            src = re.search(r'<img src="(I\d{7}\.JPG)"', text)
            if f"the DICOM file {dest}." in text and src:
                out.append(np.asarray(Image.open(page.parent / src.group(1))))
        return out

    def _dest(self, name: str) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fs = FileSet(pydicom.dcmread(self.tree / "DICOMDIR"))
        (instance,) = fs.find(SOPInstanceUID=self.uids[name])
        return Path(instance.path).relative_to(self.tree).as_posix()


def make(tmp: Path, settings: cfg.MediaConfig | None = None) -> Medium:
    store = Store(tmp / "store")
    study = synth.StudyInfo(description="Previews")
    us_series = im.new_series()
    uids = {
        "ct": im.put(store, im.ct_windowed(study, CT_RAW, 40, 400)),
        "mono1": im.put(store, im.monochrome1(study, MONO1_RAW, 400, 400)),
        "mr": im.put(store, im.enhanced_mr(study, 12)),
        "us_jpeg": im.put(store, im.us_jpeg(study, us_series), sop.JPEG_BASELINE),
        "us_422": im.put(store, im.us_native_422(study, us_series)),
        "palette": im.put(store, im.palette(study)),
        "tall": im.put(store, im.tall_pixels(study)),
        "hsv": im.put(store, im.unknown_interpretation(study)),
        "damaged": im.put(store, im.damaged_jpeg(study), sop.JPEG_BASELINE),
    }
    (volume,) = build_volumes(store, [study.study_uid], Profile.STD_GEN_DVD_JPEG, None,
                              tmp / "work", settings=settings)
    return Medium(volume, stage_tree(volume, tmp / "tree"), uids)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Medium:
    return make(tmp_path_factory.mktemp("previews"))


def centres(rows: int, columns: int) -> list[tuple[int, int]]:
    """The centre of each quadrant, in the order of images.quadrants()."""
    return [(rows // 4, columns // 4), (rows // 4, 3 * columns // 4),
            (3 * rows // 4, columns // 4), (3 * rows // 4, 3 * columns // 4)]


def test_a_ct_shows_the_grey_levels_of_its_first_window(medium: Medium) -> None:
    (preview,) = medium.previews("ct")
    assert preview.shape == (128, 128)
    hu = np.array(CT_RAW) - 1024  # Rescale Slope 1, Intercept -1024
    expected = linear_window(hu, 40, 400)
    got = [int(preview[y, x]) for y, x in centres(128, 128)]
    assert np.allclose(got, expected, atol=JPEG_ERROR), (got, expected)
    (page,) = medium.pages("ct")
    assert "Window centre 40, width 400 (from the image)" in page


def test_monochrome1_is_inverted(medium: Medium) -> None:
    (preview,) = medium.previews("mono1")
    expected = 255 - linear_window(np.array(MONO1_RAW), 400, 400)
    got = [int(preview[y, x]) for y, x in centres(96, 96)]
    assert np.allclose(got, expected, atol=JPEG_ERROR), (got, expected)
    assert got[0] > 250 and got[3] < 5  # low values bright, high values dark


def test_ybr_full_422_ultrasound_has_its_colours(medium: Medium) -> None:
    (jpeg,) = medium.previews("us_jpeg")
    assert jpeg.shape == (120, 160, 3)
    assert np.allclose(jpeg[60, 40], im.RED, atol=12), jpeg[60, 40]
    assert np.allclose(jpeg[60, 120], im.BLUE, atol=12), jpeg[60, 120]
    native = medium.previews("us_422")
    assert len(native) == 3  # every frame
    for frame in native:
        assert np.allclose(frame[32, 20], im.GREEN, atol=8), frame[32, 20]
        assert np.allclose(frame[32, 60], im.RED, atol=8), frame[32, 60]


def test_palette_colour_goes_through_its_lookup_tables(medium: Medium) -> None:
    (preview,) = medium.previews("palette")
    assert np.allclose(preview[32, 10], (40, 215, 128), atol=8), preview[32, 10]
    assert np.allclose(preview[32, 50], (220, 35, 128), atol=8), preview[32, 50]


def test_a_multi_frame_instance_gets_a_page_per_frame_with_its_window(medium: Medium) -> None:
    pages = medium.pages("mr")
    assert len(pages) == 12
    assert "Image 5 of 12" in pages[4] and "frame 5 of 12" in pages[4]
    assert "Window centre 600, width 1200 (from the image)" in pages[0]  # functional groups
    previews = medium.previews("mr")
    y, x = 20, 30
    for frame in (0, 11):
        raw = (x * 16 + y * 4 + frame * 50) % 1200
        expected = float(linear_window(np.array([raw]), 600, 1200)[0])
        assert abs(int(previews[frame][y, x]) - expected) <= 6, (frame, expected)


def test_rectangular_pixels_are_made_square_and_small_images_are_not_enlarged(
        medium: Medium) -> None:
    (tall,) = medium.previews("tall")
    assert tall.shape == (64, 64)  # 64 rows of pixels twice as tall as wide
    (ct,) = medium.previews("ct")
    assert ct.shape == (128, 128)


def test_what_cannot_be_shown_gets_a_placeholder_and_the_medium_is_made(
        medium: Medium) -> None:
    (hsv,) = medium.pages("hsv")
    assert "no preview of this image: its photometric interpretation HSV" in hsv
    (damaged,) = medium.pages("damaged")
    assert "no preview of this image: its pixel data cannot be read" in damaged
    grids = "".join(p.read_text("utf-8") for p in (medium.tree / "IHE_PDI").glob("SER*.HTM"))
    assert grids.count("no preview (") == 2
    assert len(medium.volume.dicom_files()) == len(medium.uids)  # every instance on it
    assert medium.volume.label_kind == "DICOM PLUS WEB"


def test_size_and_frame_limits_come_from_the_configuration(tmp_path: Path) -> None:
    small = make(tmp_path, cfg.MediaConfig(web_image_size=100, web_image_frames=5))
    (ct,) = small.previews("ct")
    assert ct.shape == (100, 100)
    pages = small.pages("mr")
    assert len(pages) == 5  # evenly spread, the first and the last kept
    assert "frame 1 of 12" in pages[0] and "frame 12 of 12" in pages[-1]
    assert "Image 5 of 5" in pages[-1]
    thumbs = [Image.open(p).size for p in (small.tree / "IHE_PDI").glob("SER*/B*/T*.JPG")]
    assert thumbs and max(max(s) for s in thumbs) <= 160


def _native_cases() -> list[tuple[str, Path]]:
    """pydicom's own native grey little-endian files (8 and 16 bits, signed and not,
    single and multi-frame)."""
    from pydicom.data import get_testdata_file

    names = ("CT_small.dcm", "MR_small.dcm", "OBXXXX1A.dcm", "emri_small.dcm",
             "liver_1frame.dcm", "OT-PAL-8-face.dcm", "SC_rgb.dcm", "MR_small_bigendian.dcm",
             "MR_small_implicit.dcm", "JPEG2000.dcm")
    out = []
    for name in names:
        path = get_testdata_file(name, download=False)
        if path is not None:
            out.append((name, Path(str(path))))
    return out


@pytest.mark.parametrize(("name", "path"), _native_cases(), ids=lambda v: str(v))
def test_the_native_fast_path_reads_what_pydicom_reads(name: str, path: Path) -> None:
    from pydicom.pixels import pixel_array


    ds = pydicom.dcmread(path)
    pi = str(ds.get("PhotometricInterpretation", "")).upper()
    count = int(ds.get("NumberOfFrames") or 1)
    for index in {0, count - 1}:
        fast = render.native_frame(ds, index, pi)
        if fast is None:  # not native grey little endian of 8 or 16 bits: pydicom decodes it
            ts = ds.file_meta.TransferSyntaxUID
            assert (ts.is_compressed or not ts.is_little_endian or pi not in render.GREY
                    or ds.BitsAllocated not in (8, 16)), name
            continue
        expected = pixel_array(ds, index=index, raw=True)
        assert fast.dtype == expected.dtype and np.array_equal(fast, expected), name


@pytest.mark.parametrize(("bits", "stored", "signed"),
                         [(16, 12, False), (16, 12, True), (8, 7, True), (16, 16, True)])
def test_the_native_fast_path_ignores_bits_above_bits_stored(bits: int, stored: int,
                                                             signed: bool) -> None:
    from pydicom.pixels import pixel_array


    ds = im.ct_windowed(synth.StudyInfo(), CT_RAW, 40, 400)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    rng = np.random.default_rng(bits + stored)
    raw = rng.integers(0, 1 << bits, (2, 8, 8), dtype=np.uint64).astype(f"<u{bits // 8}")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, stored, stored - 1
    ds.PixelRepresentation, ds.Rows, ds.Columns = int(signed), 8, 8
    ds.NumberOfFrames = 2
    im._meta(ds, sop.EXPLICIT_VR_LE)
    ds.PixelData = raw.tobytes()  # high bits set at random: they are not part of the value
    for index in (0, 1):
        fast = render.native_frame(ds, index, "MONOCHROME2")
        assert fast is not None
        expected = pixel_array(ds, index=index, raw=True)
        assert fast.dtype == dtype == expected.dtype
        assert np.array_equal(fast, expected)


@pytest.mark.parametrize("dtype", ["<i2", "<i1", "<u2", "<i4"])
def test_the_lookup_table_gives_what_the_luts_give_pixel_by_pixel(dtype: str) -> None:
    """Signed frames go through a table indexed by their bit patterns: the same grey
    levels as pydicom's LUT functions applied to every pixel."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = im.ct_windowed(synth.StudyInfo(), CT_RAW, 40, 400)
    info = np.iinfo(np.dtype(dtype))
    rng = np.random.default_rng(7)
    low, high = max(info.min, -3000), min(info.max, 3000)
    arr = rng.integers(low, high + 1, (32, 32)).astype(dtype)
    grey, _ = render._grey(arr, ds)
    values = apply_voi_lut(apply_modality_lut(arr.astype(np.float64), ds), ds, 0,
                           prefer_lut=False)
    ends = apply_voi_lut(np.array([40 - 4000.0, 40 + 4000.0]), ds, 0, prefer_lut=False)
    expected = render._scale(values, float(ends[0]), float(ends[1]))
    assert grey.dtype == np.uint8 and np.array_equal(grey, expected)


def test_warming_up_goes_through_the_quick_header_and_the_encoder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """render.warm() (run where the workers are forked from) takes the path a first
    rendering takes: the quick header of a native grey image, the LUTs, a JPEG."""
    from mw_tui.media import quickhead

    parsed: list[object] = []
    saved: list[str] = []
    real_parse, real_save = quickhead.parse, Image.Image.save
    monkeypatch.setattr(quickhead, "parse", lambda data: parsed.append(real_parse(data))
                        or parsed[-1])
    monkeypatch.setattr(Image.Image, "save", lambda self, fp, fmt=None, **kw: (
        saved.append(str(fmt)), real_save(self, fp, fmt, **kw))[1])
    render.warm()
    assert parsed and parsed[0] is not None
    assert saved == ["JPEG"]
