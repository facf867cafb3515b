"""Jobs too big for one medium: several complete File-sets, every instance exactly once."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.fileset import FileSet

from mw_tui.media import Profile, build_volumes, stage_tree, write_iso
from mw_tui.media import span as spanning
from mw_tui.media.span import DoesNotFit, Slice, span
from tests.media.conftest import Corpus
from tests.peers import need

KB = 1024


def test_studies_stay_whole_when_they_fit_on_a_medium() -> None:
    block = 2048
    one = spanning.instance_cost(100 * KB, block)
    capacity = spanning.FIXED + 2 * spanning.PER_LEVEL + spanning.PER_LEVEL + 6 * one
    # three studies of 4 instances: each fits alone, no two together
    studies = [[[100 * KB] * 4] for _ in range(3)]
    volumes = span(studies, capacity, block)
    assert volumes == [[Slice(0, 0, 0, 4)], [Slice(1, 0, 0, 4)], [Slice(2, 0, 0, 4)]]


def test_a_study_larger_than_a_medium_is_split_by_series_then_instances() -> None:
    block = 2048
    one = spanning.instance_cost(100 * KB, block)
    room = 4 * spanning.PER_LEVEL + 5 * one  # patient, study, two series, 5 instances
    studies = [[[100 * KB] * 2, [100 * KB] * 3, [100 * KB] * 12]]
    volumes = span(studies, spanning.FIXED + room, block)
    # the first two series fill a medium; the big series goes over three more, by instances
    assert volumes[0] == [Slice(0, 0, 0, 2), Slice(0, 1, 0, 3)]
    runs = [s for v in volumes[1:] for s in v]
    assert all(s.series == 2 for s in runs)
    assert [(s.start, s.stop) for s in runs] == [(0, 5), (5, 10), (10, 12)]


def test_an_instance_larger_than_the_medium_is_refused() -> None:
    with pytest.raises(DoesNotFit, match="larger than the medium"):
        span([[[10 * KB, 50 << 20]]], spanning.FIXED + (20 << 20), 2048)


def test_no_capacity_means_one_volume() -> None:
    assert span([[[1, 2], [3]], [[4]]], None, 2048) == [
        [Slice(0, 0, 0, 2), Slice(0, 1, 0, 1), Slice(1, 0, 0, 1)]]


def _uids(tree: Path) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [i.SOPInstanceUID for i in FileSet(pydicom.dcmread(tree / "DICOMDIR"))]


def test_a_three_disc_split_holds_every_instance_exactly_once(corpus: Corpus,
                                                              tmp_path: Path) -> None:
    need("dciodvfy")
    studies = [corpus.generated[k] for k in ("span_a", "span_b", "span_c")]
    store = corpus.store
    expected = sorted(r.sop_uid for uid in studies for r in store.index.study_instances(uid))
    (whole,) = build_volumes(store, studies, Profile.STD_GEN_DVD, None, tmp_path / "w0")
    capacity = whole.size + spanning.FIXED
    volumes = []
    while len(volumes) != 3:  # a tiny fake medium, shrunk until the job needs three
        capacity = int(capacity * 0.97)
        volumes = build_volumes(store, studies, Profile.STD_GEN_DVD, capacity, tmp_path / "w")
        assert len(volumes) <= 3, "shrinking the medium went from fewer than 3 to more"
    found: list[str] = []
    for n, volume in enumerate(volumes, 1):
        assert (volume.number, volume.count) == (n, 3)
        assert volume.label.endswith(f"_{n}OF3")
        tree = stage_tree(volume, tmp_path / f"disc{n}")
        readme = (tree / "README.TXT").read_text("utf-8")
        assert f"disc {n} of 3" in readme
        out = subprocess.run(["dciodvfy", str(tree / "DICOMDIR")], capture_output=True,
                             text=True)
        assert not [ln for ln in (out.stdout + out.stderr).splitlines()
                    if ln.startswith("Error")], out.stdout + out.stderr
        found += _uids(tree)
        iso = write_iso(volume, tmp_path / f"disc{n}.iso")
        assert iso.iso_size is not None and iso.iso_size <= capacity
    assert sorted(found) == expected


def test_volume_labels_say_which_disc_of_the_set() -> None:
    from datetime import datetime

    from mw_tui.media.ids import fileset_id

    when = datetime(2026, 1, 26, 15, 30)
    assert fileset_id(when) == "MW2601261530"
    assert fileset_id(when, 2, 3) == "2601261530_2OF3"
    assert fileset_id(when, 10, 12) == "01261530_10OF12"
    assert all(len(fileset_id(when, n, 99)) <= 16 for n in range(1, 100))
