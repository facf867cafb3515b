"""The station's kept web previews: a build takes what is kept and renders only the rest,
an instance received again or other settings are rendered again, a cut file is made
again, and the previews of instances the store no longer holds are swept away."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.media import Profile, Volume, build_volumes
from mw_tui.media.previews import SWEEP_AGE, PreviewCache
from mw_tui.media.webimages import Renderer, WebSettings
from mw_tui.store import Store
from tests.media import images as im
from tests.media.test_render import CT_RAW, JPEG_ERROR, linear_window


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SOP Instance UIDs handed to the worker processes, build after build."""
    seen: list[str] = []
    submit = Renderer.submit

    def spy(self: Renderer, sop_uid: str, source: Path) -> None:
        seen.append(sop_uid)
        submit(self, sop_uid, source)

    monkeypatch.setattr(Renderer, "submit", spy)
    return seen


def study(store: Store, raws: list[tuple[int, int, int, int]]) -> tuple[str, list[str]]:
    info = synth.StudyInfo(description="Kept")
    return info.study_uid, [im.put(store, im.ct_windowed(info, raw, 40, 400)) for raw in raws]


def build(store: Store, uid: str, work: Path, cache: PreviewCache | None,
          **media: object) -> Volume:
    (volume,) = build_volumes(store, [uid], Profile.STD_GEN_DVD, None, work,
                              settings=cfg.MediaConfig(**media),  # type: ignore[arg-type]
                              previews=cache)
    return volume


def pictures(volume: Volume) -> dict[str, bytes]:
    return {f.dest: f.source.read_bytes() for f in volume.files
            if f.dest.endswith(".JPG") and f.source is not None}


def test_a_second_build_takes_the_kept_previews(tmp_path: Path, renders: list[str]) -> None:
    store = Store(tmp_path / "store")
    uid, sops = study(store, [CT_RAW, (0, 100, 200, 300), (900, 1000, 1100, 1200)])
    cache = PreviewCache(tmp_path / "previews")
    first = build(store, uid, tmp_path / "w1", cache)
    assert sorted(renders) == sorted(sops)
    assert all(f.source is not None and f.source.is_relative_to(cache.folder)
               for f in first.files if f.dest.endswith(".JPG"))
    renders.clear()
    second = build(store, uid, tmp_path / "w2", cache)
    assert renders == []  # nothing rendered: every preview was kept
    assert pictures(second) == pictures(first) and len(pictures(first)) == 2 * len(sops)
    # the work folders' removal (the job is over) leaves the kept previews alone
    assert all(Image.open(f.source).size for f in second.files  # type: ignore[arg-type]
               if f.dest.endswith(".JPG"))


def test_an_instance_received_again_is_rendered_again(tmp_path: Path,
                                                      renders: list[str]) -> None:
    store = Store(tmp_path / "store")
    info = synth.StudyInfo(description="Kept")
    first = im.ct_windowed(info, CT_RAW, 40, 400)
    sop = im.put(store, first)
    im.put(store, im.ct_windowed(info, (0, 100, 200, 300), 40, 400))
    cache = PreviewCache(tmp_path / "previews")
    before = pictures(build(store, info.study_uid, tmp_path / "w1", cache))
    renders.clear()
    again = im.ct_windowed(info, (1224, 1224, 1224, 1224), 40, 400)  # all 200 HU now
    again.SOPInstanceUID = sop
    im.put(store, again)
    after = build(store, info.study_uid, tmp_path / "w2", cache)
    assert renders == [sop]
    changed = [d for d, data in pictures(after).items() if before.get(d) != data]
    assert changed  # the new pixels, not the kept picture of the old file
    for dest in changed:
        f = next(f for f in after.files if f.dest == dest)
        assert f.source is not None
        grey = np.asarray(Image.open(f.source), dtype=float)
        assert abs(grey - float(linear_window(np.array(200.0), 40, 400))).max() <= JPEG_ERROR


def test_a_preview_cut_short_or_other_settings_are_made_again(tmp_path: Path,
                                                            renders: list[str]) -> None:
    store = Store(tmp_path / "store")
    uid, sops = study(store, [CT_RAW, (0, 100, 200, 300)])
    cache = PreviewCache(tmp_path / "previews")
    first = build(store, uid, tmp_path / "w1", cache)
    victim = next(f.source for f in first.files if f.dest.endswith(".JPG"))
    assert victim is not None
    os.truncate(victim, 100)  # a power loss before the page cache was written
    renders.clear()
    build(store, uid, tmp_path / "w2", cache)
    assert len(renders) == 1
    renders.clear()
    build(store, uid, tmp_path / "w3", cache, web_image_size=256)
    assert sorted(renders) == sorted(sops)  # another size: rendered again
    renders.clear()
    thumbs = build(store, uid, tmp_path / "w4", cache, web_images="thumbnails")
    assert renders == []  # the thumbnails of the full renderings will do
    assert len(pictures(thumbs)) == len(sops)
    assert all(f.source is not None and f.source.exists() for f in first.files
               if f.dest.endswith(".JPG"))  # the full previews kept were not deleted


def test_previews_of_instances_no_longer_held_are_swept(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    gone_uid, gone = study(store, [CT_RAW])
    kept_uid, kept = study(store, [(0, 100, 200, 300)])
    cache = PreviewCache(tmp_path / "previews")
    settings = WebSettings()
    with Renderer(tmp_path / "unused", settings, cache=cache) as renderer:
        rows = store.index.study_instances(gone_uid) + store.index.study_instances(kept_uid)
        renderer.submit_all([(r.sop_uid, store.root / r.path) for r in rows])
        renderer.collect(lambda: None)
    files = sorted(p for p in cache.folder.rglob("*.JPG"))
    assert len(files) == 4
    store.delete_study(gone_uid)
    past = time.time() - 2 * SWEEP_AGE
    for p in files:
        os.utime(p, (past, past))
    assert cache.sweep(store.index.held) == 2
    left = cache.find([(r.sop_uid, store.root / r.path)
                       for r in store.index.study_instances(kept_uid)], settings.how())
    assert set(left) == set(kept)
    assert all(p.exists() for r in left.values() for p in
               [*(f.path for f in r.frames), r.thumbnail.path])  # type: ignore[union-attr]
    assert not cache.find([(gone[0], tmp_path / "nothing")], settings.how())
    assert cache.sweep(store.index.held) == 0
