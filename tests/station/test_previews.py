"""Web previews made ahead: a study pushed to a running station (dcmtk's storescu) gets
its previews in the background, and a job burning it then only collects them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom

from mw_tui.jobs.models import JobState, StudyRef
from mw_tui.media.previews import PreviewCache
from mw_tui.media.webimages import WebSettings
from mw_tui.station import Station
from tests.jobs.conftest import make_study, station_config
from tests.peers import dcmtk, wait_until


def test_a_pushed_study_gets_its_previews_ahead_and_a_job_only_collects_them(
        tmp_path: Path) -> None:
    files = make_study(tmp_path / "data", "Ahead^Anna", "P700", series=2, per_series=3)
    images = [f for f in files if "_sr" not in f.name]
    config = station_config(tmp_path, iso_folder=str(tmp_path / "iso"))
    (tmp_path / "iso").mkdir()
    station = Station(config, watch_devices=False)
    station.start()
    try:
        dcmtk("storescu", "-aec", config.station.ae_title, "127.0.0.1",
              str(station.receiver.port), *map(str, files))
        wait_until(lambda: station.previews.rendered >= len(images) and station.previews.idle(),
                   60, "the previews made ahead")
        cache = PreviewCache(station.paths.previews)
        store = station.store
        uid = str(pydicom.dcmread(images[0], stop_before_pixels=True).StudyInstanceUID)
        rows = store.index.study_instances(uid)
        kept = cache.find([(r.sop_uid, store.root / r.path) for r in rows],
                          WebSettings.from_config(config.media).how())
        assert len(kept) == len(images)  # every image, not the report
        stamps = {p: p.stat().st_mtime_ns for r in kept.values()
                  for p in [*(f.path for f in r.frames), r.thumbnail.path]}  # type: ignore[union-attr]

        job = station.create_job([StudyRef(uid, "", len(files))], f"iso:{tmp_path / 'iso'}")
        wait_until(lambda: station.job(job.id).state.finished, 90, "the job")
        assert station.job(job.id).state is JobState.DONE, station.job(job.id).error
        assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not made again
        assert station.previews.rendered == len(images)
        (iso,) = (tmp_path / "iso").glob("*.iso")
        assert sum(1 for name in names_in(iso) if name.endswith(".JPG")) == 2 * len(images)
    finally:
        station.stop()


def test_no_previews_are_kept_when_the_configuration_says_so(tmp_path: Path) -> None:
    base = station_config(tmp_path)
    config = dataclasses.replace(base, media=dataclasses.replace(base.media,
                                                                 web_previews_ahead=False))
    station = Station(config, watch_devices=False)
    station.start()
    try:
        assert not station.previews.enabled
        assert not station.paths.previews.exists()
    finally:
        station.stop()


def names_in(iso: Path) -> list[str]:
    """The file names in the image, without versions (pycdlib reads it: no mount)."""
    import pycdlib

    image = pycdlib.PyCdlib()
    image.open(str(iso))
    try:
        return [name.split(";")[0] for _root, _dirs, names in image.walk(iso_path="/")
                for name in names]
    finally:
        image.close()
