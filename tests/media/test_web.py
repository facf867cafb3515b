"""The web pages of a medium show its images: every image instance has a preview, every
page is script-free XHTML whose links and pictures resolve, the DICOM content is the same as
without them, and the size budget lowers them when they would need one more medium."""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.fileset import FileSet

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.media import BuildProgress, BuildStage, Profile, Volume, build_volumes, stage_tree
from mw_tui.media import render as render_module
from mw_tui.media.builder import medium_size
from mw_tui.media.volume import Pack, WebImages
from mw_tui.media.webimages import CRASHED, Renderer, WebSettings, choose_level, pool_context
from mw_tui.store import Store
from tests.media import images as im
from tests.media.conftest import Corpus

XHTML = "{http://www.w3.org/1999/xhtml}"
CREATED = datetime(2026, 3, 4, 5, 6)


@dataclass
class Site:
    volume: Volume
    tree: Path


@pytest.fixture(scope="module")
def site(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Site:
    tmp = tmp_path_factory.mktemp("web")
    (volume,) = build_volumes(corpus.store, corpus.good_studies, Profile.STD_GEN_CD, None,
                              tmp / "work", created=CREATED)
    return Site(volume, stage_tree(volume, tmp / "tree"))


def read(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


OFFSETS = (0x00041200, 0x00041202, 0x00041400, 0x00041420)  # byte offsets in a DICOMDIR


def without_offsets(ds: pydicom.Dataset) -> list[pydicom.Dataset]:
    """A DICOMDIR's header and records without the byte offsets that link them."""
    out = []
    for item in [ds, *ds.DirectoryRecordSequence]:
        copy = pydicom.Dataset(item)
        for tag in OFFSETS:
            if tag in copy:
                del copy[tag]
        if "DirectoryRecordSequence" in copy:
            del copy.DirectoryRecordSequence
        out.append(copy)
    return out


def decodable(ds: pydicom.Dataset) -> bool:
    """Whether pydicom itself can decode the pixel data (the reference for "has a
    preview")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.pixel_array  # noqa: B018
        return True
    except Exception:
        return False


def image_pages(tree: Path) -> dict[str, list[str]]:
    """DICOM file on the medium -> the texts of its image pages."""
    out: dict[str, list[str]] = {}
    for page in sorted((tree / "IHE_PDI").glob("SER*/B*/I*.HTM")):
        text = page.read_text("utf-8")
        dest = re.search(r"the DICOM file (DICOM/[A-Z0-9/]+)\.", text)
        assert dest, page
        out.setdefault(dest.group(1), []).append(text)
    return out


def test_every_image_instance_has_a_preview_on_the_medium(site: Site, corpus: Corpus) -> None:
    pages = image_pages(site.tree)
    fs = FileSet(read(site.tree / "DICOMDIR"))
    images = shown = multi = 0
    for instance in fs:
        row = corpus.store.index.instance(instance.SOPInstanceUID)
        assert row is not None
        stored = read(corpus.store.root / row.path)
        dest = Path(instance.path).relative_to(site.tree).as_posix()
        if "PixelData" not in stored:
            assert dest not in pages  # SR, PDF, presentation states: no image pages
            continue
        images += 1
        assert dest in pages, f"{dest} ({row.sop_class}) has no image page"
        if decodable(stored):
            frames = int(stored.get("NumberOfFrames") or 1)
            assert len(pages[dest]) == min(frames, 50), dest
            assert all('<img src="I' in text for text in pages[dest]), dest
            shown += 1
            multi += frames > 1
        else:
            assert "no preview of this image" in pages[dest][0]
    assert images >= 40 and shown >= images - 2 and multi >= 3


def test_pages_are_xhtml_without_scripts_and_every_link_and_picture_resolves(
        site: Site) -> None:
    tree = site.tree
    pages = [tree / "INDEX.HTM", *(tree / "IHE_PDI").rglob("*.HTM")]
    pictures = 0
    for page in pages:
        root = ET.parse(page).getroot()  # well-formed XML
        for el in root.iter():
            assert el.tag != f"{XHTML}script", page
            assert not [a for a in el.attrib if a.lower().startswith("on")], page
            ref = el.get("src") if el.tag == f"{XHTML}img" else el.get("href")
            if ref is None:
                continue
            target = (page.parent / ref).resolve()
            assert target.is_file() and tree in target.parents, f"{page}: {ref}"
            if el.tag == f"{XHTML}img":
                with Image.open(target) as picture:
                    assert picture.format == "JPEG" and min(picture.size) > 0
                pictures += 1
    jpegs = [f for f in site.volume.files if f.dest.endswith(".JPG")]
    assert pictures >= len(jpegs) > 100
    assert all(f.dest.startswith("IHE_PDI/") for f in jpegs)


def test_image_pages_page_through_the_series_with_access_keys(site: Site) -> None:
    mr = next(texts for texts in image_pages(site.tree).values() if len(texts) == 12)
    assert "Image 1 of 12" in mr[0] and "Image 12 of 12" in mr[-1]
    assert 'accesskey="n"' in mr[0] and 'accesskey="p"' not in mr[0]
    assert 'accesskey="p"' in mr[-1] and 'accesskey="n"' not in mr[-1]
    assert all('accesskey="b"' in t and "not for diagnosis" in t for t in mr)
    web = site.tree / "IHE_PDI"
    with_images = 0
    for study in web.glob("STU*.HTM"):  # one key image per series with images
        text = study.read_text("utf-8")
        series = sorted(set(re.findall(r'href="(SER\d{5}\.HTM)"', text)))
        grids = sum('<div class="grid">' in (web / s).read_text("utf-8") for s in series)
        assert text.count('<div class="cell">') == grids, study
        with_images += grids > 0
    assert with_images >= 20


def test_nothing_under_dicom_changes_and_the_dicomdir_lists_dicom_files_only(
        site: Site, corpus: Corpus, tmp_path: Path) -> None:
    (plain,) = build_volumes(corpus.store, corpus.good_studies, Profile.STD_GEN_CD, None,
                             tmp_path / "work", created=CREATED,
                             settings=cfg.MediaConfig(web_images="none"))
    with_web = {f.dest: f.read() for f in site.volume.files if f.dest.startswith("DICOM/")}
    without = {f.dest: f.read() for f in plain.files if f.dest.startswith("DICOM/")}
    assert with_web == without
    stage_tree(plain, tmp_path / "plain")
    records = read(site.tree / "DICOMDIR")
    assert records.DirectoryRecordSequence
    # the same records: its own media SOP Instance UID aside, and with it the byte offsets
    # (a generated UID of another length moves every record by as many bytes)
    assert without_offsets(records) == without_offsets(read(tmp_path / "plain" / "DICOMDIR"))
    fs = FileSet(read(site.tree / "DICOMDIR"))
    referenced = {Path(i.path).relative_to(site.tree).as_posix() for i in fs}
    assert referenced == {f.dest for f in site.volume.dicom_files()}
    assert all(d.startswith("DICOM/") for d in referenced)
    assert site.volume.label_kind == "DICOM PLUS WEB" and plain.label_kind == "DICOM ONLY"
    assert not [f for f in plain.files if f.dest.endswith(".JPG")]
    readme = next(f for f in plain.files if f.dest == "README.TXT").read().decode()
    assert "(text only, no images)" in readme


def test_index_and_readme_say_the_images_can_be_seen_and_are_previews(site: Site) -> None:
    readme = (site.tree / "README.TXT").read_text("utf-8")
    assert "The images can be seen in any web browser" in readme
    assert "previews, not for diagnosis" in readme and "text only" not in readme
    index = (site.tree / "INDEX.HTM").read_text("utf-8")
    assert "The images can be seen in this browser" in index and "not for diagnosis" in index


def _noise_study(store: Store, count: int, size: int) -> str:
    study = synth.StudyInfo(description="Noise")
    series = im.new_series()
    rng = np.random.default_rng(7)
    for i in range(1, count + 1):
        ds = synth.image(study, "CT", series, 1, i, size, size)
        ds.PixelData = rng.integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
        im.put(store, ds)
    return study.study_uid


def test_previews_that_would_need_one_more_medium_become_thumbnails(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uid = _noise_study(store, 10, 512)
    sizes = {}
    for level in WebImages:
        (v,) = build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / level.value,
                             settings=cfg.MediaConfig(web_images=level.value))
        sizes[level] = medium_size(v, 2048)
    assert sizes[WebImages.ALL] - sizes[WebImages.THUMBNAILS] > 1_500_000  # noise: big JPEGs
    capacity = sizes[WebImages.THUMBNAILS] + 700_000  # DICOM + thumbnails fit, all does not
    (volume,) = build_volumes(store, [uid], Profile.STD_GEN_CD, capacity, tmp_path / "cd")
    assert volume.web_images is WebImages.THUMBNAILS and volume.label_kind == "DICOM PLUS WEB"
    names = [f.dest.rpartition("/")[2] for f in volume.files if f.dest.endswith(".JPG")]
    assert len(names) == 10 and all(n.startswith("T") for n in names)
    readme = next(f for f in volume.files if f.dest == "README.TXT").read().decode()
    assert "thumbnails only" in readme and "more than the one medium" in readme
    assert volume.notes and "thumbnails only" in volume.notes[0]


def test_the_levels_go_down_one_by_one_while_they_need_more_media() -> None:
    needs = {WebImages.NONE: 2, WebImages.THUMBNAILS: 3, WebImages.ALL: 4}
    level, note = choose_level(WebImages.ALL, needs.__getitem__)
    assert level is WebImages.NONE and "no images" in note and "2 media" in note
    needs[WebImages.THUMBNAILS] = 2
    assert choose_level(WebImages.ALL, needs.__getitem__)[0] is WebImages.THUMBNAILS
    assert choose_level(WebImages.THUMBNAILS, needs.__getitem__) == (WebImages.THUMBNAILS, "")


def test_the_build_step_shows_the_renderings_in_its_progress(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uid = _noise_study(store, 6, 64)
    seen: list[BuildProgress] = []
    build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "w", progress=seen.append)
    rendering = [p for p in seen if p.stage is BuildStage.RENDERING]
    assert rendering and rendering[-1].done == rendering[-1].total == 6
    assert rendering[-1].detail == "web images"


_real_render = render_module.render_instance


def _dies_on_victim(task: render_module.RenderTask,
                    pack: Pack) -> render_module.Rendering | None:
    if task.source.name == "victim":
        os._exit(9)  # as a decoder crashing on damaged data would
    return _real_render(task, pack)


def test_a_worker_that_dies_costs_one_preview_only(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    uid = _noise_study(store, 12, 32)
    rows = store.index.study_instances(uid)
    victim = rows[3]
    os.link(store.root / victim.path, tmp_path / "victim")
    monkeypatch.setattr(render_module, "render_instance", _dies_on_victim)
    fork = multiprocessing.get_context("fork")  # the workers see the patched function
    with Renderer(tmp_path / "web", WebSettings(), workers=2, context=fork) as renderer:
        for r in rows:
            source = tmp_path / "victim" if r is victim else store.root / r.path
            renderer.submit(r.sop_uid, source)
        results = renderer.collect(lambda: None)
    assert results[victim.sop_uid].problem == CRASHED
    assert all(results[r.sop_uid].thumbnail is not None for r in rows if r is not victim)


def test_workers_start_from_a_fork_server_when_threads_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uid = _noise_study(store, 3, 32)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # as in the station
    other.start()
    try:
        assert pool_context().get_start_method() == "forkserver"
        with Renderer(tmp_path / "web", WebSettings(), workers=1) as renderer:
            for r in store.index.study_instances(uid):
                renderer.submit(r.sop_uid, store.root / r.path)
            results = renderer.collect(lambda: None)
    finally:
        stop.set()
        other.join()
    assert len(results) == 3 and all(r.frames and r.thumbnail for r in results.values())


def test_a_long_stack_pages_through_its_folders(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    uid = _noise_study(store, 120, 16)
    (volume,) = build_volumes(store, [uid], Profile.STD_GEN_CD, None, tmp_path / "w")
    tree = stage_tree(volume, tmp_path / "tree")
    pages = sorted((tree / "IHE_PDI").rglob("I*.HTM"))
    assert len(pages) == 120 and len({p.parent for p in pages}) == 2  # 100 a folder
    by_number = {int(p.stem[1:]): p for p in pages}
    assert "Image 37 of 120" in by_number[37].read_text("utf-8")
    n = 1
    while True:  # Next from the first image reaches the last one, every step resolving
        text = by_number[n].read_text("utf-8")
        assert f"Image {n} of 120" in text
        nxt = re.search(r'<a href="([^"]+)" accesskey="n">', text)
        if nxt is None:
            break
        target = (by_number[n].parent / nxt.group(1)).resolve()
        assert target == by_number[n + 1].resolve()
        back = re.search(r'<a href="([^"]+)" accesskey="p">', target.read_text("utf-8"))
        assert back and (target.parent / back.group(1)).resolve() == by_number[n].resolve()
        n += 1
    assert n == 120
