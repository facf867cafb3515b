"""The station's kept web previews: a build takes what is kept and renders only the rest,
an instance received again or other settings are rendered again, a cut file is made
again, and the previews of instances the store no longer holds are swept away."""

from __future__ import annotations

import io
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
    return {f.dest: f.read() for f in volume.files
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
    assert all(Image.open(io.BytesIO(f.read())).size for f in second.files
               if f.dest.endswith(".JPG"))


def test_an_instance_received_again_is_rendered_again(tmp_path: Path,
                                                      renders: list[str]) -> None:
    store = Store(tmp_path / "store")
    info = synth.StudyInfo(description="Kept")
    first = im.ct_windowed(info, CT_RAW, 40, 400)
    sop = im.put(store, first)
    im.put(store, im.ct_windowed(info, (0, 100, 200, 300), 40, 400))
    cache = PreviewCache(tmp_path / "previews")
    before = sources(build(store, info.study_uid, tmp_path / "w1", cache))
    renders.clear()
    again = im.ct_windowed(info, (1224, 1224, 1224, 1224), 40, 400)  # all 200 HU now
    again.SOPInstanceUID = sop
    im.put(store, again)
    after = sources(build(store, info.study_uid, tmp_path / "w2", cache))
    assert renders == [sop]
    new = set(after) - set(before)  # the new pixels' preview and thumbnail, not the kept ones
    assert len(new) == 2
    for key in new:
        grey = np.asarray(Image.open(io.BytesIO(after[key])), dtype=float)
        assert abs(grey - float(linear_window(np.array(200.0), 40, 400))).max() <= JPEG_ERROR


def sources(volume: Volume) -> dict[tuple[Path, int | None], bytes]:
    """The pictures of the medium by where they are kept (pack file, offset)."""
    return {(f.source, f.offset): f.read() for f in volume.files
            if f.dest.endswith(".JPG") and f.source}


def test_a_preview_cut_short_or_other_settings_are_made_again(tmp_path: Path,
                                                            renders: list[str]) -> None:
    store = Store(tmp_path / "store")
    uid, sops = study(store, [CT_RAW, (0, 100, 200, 300)])
    cache = PreviewCache(tmp_path / "previews")
    first = build(store, uid, tmp_path / "w1", cache)
    # the pack's last picture cut by a power loss before the page cache was written
    last = max((f for f in first.files if f.dest.endswith(".JPG")),
               key=lambda f: f.offset or 0)
    assert last.source is not None and last.offset is not None
    os.truncate(last.source, last.offset + last.size - 1)
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
    for uid in (gone_uid, kept_uid):  # a pack file each
        with Renderer(tmp_path / "unused", settings, cache=cache) as renderer:
            rows = store.index.study_instances(uid)
            renderer.submit_all([(r.sop_uid, store.root / r.path) for r in rows])
            renderer.collect(lambda: None)
    files = sorted(p for p in cache.folder.rglob("*.PCK"))
    assert len(files) == 2
    store.delete_study(gone_uid)
    past = time.time() - 2 * SWEEP_AGE
    for p in files:
        os.utime(p, (past, past))
    assert cache.sweep(store.index.held) == 1
    left = cache.find([(r.sop_uid, store.root / r.path)
                       for r in store.index.study_instances(kept_uid)], settings.how())
    assert set(left) == set(kept)
    assert all(p.exists() for r in left.values() for p in
               [*(f.path for f in r.frames), r.thumbnail.path])  # type: ignore[union-attr]
    assert not cache.find([(gone[0], tmp_path / "nothing")], settings.how())
    assert cache.sweep(store.index.held) == 0


def test_a_problem_that_may_go_is_not_kept(tmp_path: Path) -> None:
    """A file gone (or a full disk) is not the instance's fault: its next build tries
    again; a picture that cannot be shown is kept with its reason."""
    store = Store(tmp_path / "store")
    uid, (sop, broken) = study(store, [CT_RAW, (0, 100, 200, 300)])
    info = synth.StudyInfo(description="Kept")
    hsv = im.put(store, im.unknown_interpretation(info))
    rows = {r.sop_uid: store.root / r.path for r in store.index.study_instances(uid)}
    rows[hsv] = store.root / store.index.instance(hsv).path  # type: ignore[union-attr]
    moved = rows[broken].with_suffix(".away")
    rows[broken].rename(moved)
    cache = PreviewCache(tmp_path / "previews")
    settings = WebSettings()
    with Renderer(tmp_path / "unused", settings, cache=cache) as renderer:
        renderer.submit_all(list(rows.items()))
        made = renderer.collect(lambda: None)
    assert made[broken].problem and not made[broken].lasting
    assert made[hsv].problem and made[hsv].lasting
    moved.rename(rows[broken])
    assert set(cache.find(list(rows.items()), settings.how())) == {sop, hsv}


def test_previews_made_ahead_wait_for_the_receiver_to_be_quiet(tmp_path: Path) -> None:
    import threading

    from mw_tui.media.prerender import Prerenderer
    from tests.peers import wait_until

    store = Store(tmp_path / "store")
    uid, sops = study(store, [CT_RAW, (0, 100, 200, 300), (900, 1000, 1100, 1200)])
    cache = PreviewCache(tmp_path / "previews")
    ahead = Prerenderer(store, cache, WebSettings(), quiet=0.5)
    ahead.start()
    traffic = threading.Event()
    try:
        ahead.study_changed(uid)

        def receiving() -> None:  # the study keeps changing, as during a push
            while not traffic.wait(0.05):
                ahead.study_changed(uid)

        pusher = threading.Thread(target=receiving)
        pusher.start()
        busy_until = time.monotonic() + 1.5
        while time.monotonic() < busy_until:
            assert ahead.rendered == 0 and not ahead.idle()
            traffic.wait(0.05)
        traffic.set()
        pusher.join()
        wait_until(lambda: ahead.rendered == len(sops) and ahead.idle(), 30, "the previews")
    finally:
        traffic.set()
        ahead.stop()
    settings = WebSettings()
    rows = [(r.sop_uid, store.root / r.path) for r in store.index.study_instances(uid)]
    assert set(PreviewCache(tmp_path / "previews").find(rows, settings.how())) == set(sops)
