"""A job's copies: the same seed gives the same copies (a resumed job), dates of a patient
keep their intervals, and every failure says what to do."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

import pytest

from mw_tui.config import DeidProfile
from mw_tui.deid import DeidCancelled, DeidError, DeidProgress, deidentify_into, new_seed
from mw_tui.store import Store
from tests.deid import phi


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> phi.Corpus:
    return phi.build(Store(tmp_path_factory.mktemp("station") / "store"))


def files(store: Store) -> dict[str, bytes]:
    return {uid: (store.root / path).read_bytes() for uid, path in store.index.paths().items()}


def test_the_same_seed_gives_the_same_copies(corpus: phi.Corpus, tmp_path: Path) -> None:
    seed = new_seed()
    studies = [corpus.a1, corpus.b]
    first = deidentify_into(corpus.store, studies, DeidProfile(name="b"), seed,
                            Store(tmp_path / "one"))
    again = deidentify_into(corpus.store, studies, DeidProfile(name="b"), seed,
                            Store(tmp_path / "two"))
    assert first.study_uids == again.study_uids and first.pseudonyms == again.pseudonyms
    one, two = files(Store(tmp_path / "one")), files(Store(tmp_path / "two"))
    assert one.keys() == two.keys() and len(one) == 3 + 3 + 2
    for uid in one:  # byte for byte, but the file meta's own creation does not vary either
        assert one[uid] == two[uid]
    other = deidentify_into(corpus.store, studies, DeidProfile(name="b"), new_seed(),
                            Store(tmp_path / "three"))
    assert not set(other.study_uids) & set(first.study_uids)
    assert not set(other.pseudonyms) & set(first.pseudonyms)


def test_a_resumed_job_keeps_what_it_wrote(corpus: phi.Corpus, tmp_path: Path) -> None:
    work = Store(tmp_path / "work")
    cancel = threading.Event()
    seen: list[DeidProgress] = []

    def progress(p: DeidProgress) -> None:
        seen.append(p)
        cancel.set()  # stop after the first report

    studies = [*corpus.synthetic, *corpus.pydicom_studies]
    with pytest.raises(DeidCancelled):
        deidentify_into(corpus.store, studies, DeidProfile(name="b"), "job-7", work,
                        progress, cancel)
    partial = len(work.index.paths())
    assert seen and 0 < partial < seen[0].total
    report = deidentify_into(corpus.store, studies, DeidProfile(name="b"), "job-7", work)
    assert report.reused == partial
    assert report.written + report.reused == len(work.index.paths())


def test_shifted_dates_keep_the_interval_between_studies(corpus: phi.Corpus,
                                                         tmp_path: Path) -> None:
    work = Store(tmp_path / "work")
    report = deidentify_into(corpus.store, [corpus.a1, corpus.a2, corpus.b],
                             DeidProfile(name="s", dates="shift"), "seed", work)
    dates = {}
    for copy in report.studies:
        row = work.index.study(copy.uid)
        assert row is not None
        dates[copy.original_uid] = datetime.datetime.strptime(row.study_date, "%Y%m%d").date()
    assert dates[corpus.a2] - dates[corpus.a1] == datetime.timedelta(days=47)
    alice = next(s.pseudonym for s in report.studies if s.original_uid == corpus.a1)
    assert dates[corpus.a1] == datetime.date(2024, 1, 15) - datetime.timedelta(
        days=alice.shift_days)
    kept = deidentify_into(corpus.store, [corpus.a1], DeidProfile(name="k", dates="keep"),
                           "seed", Store(tmp_path / "kept"))
    row = Store(tmp_path / "kept").index.study(kept.study_uids[0])
    assert row is not None and (row.study_date, row.study_time) == ("20240115", "093000")
    removed = deidentify_into(corpus.store, [corpus.a1], DeidProfile(name="r"), "seed",
                              Store(tmp_path / "removed"))
    row = Store(tmp_path / "removed").index.study(removed.study_uids[0])
    assert row is not None and (row.study_date, row.study_time) == ("", "")


def test_a_study_not_in_the_store_is_named(corpus: phi.Corpus, tmp_path: Path) -> None:
    with pytest.raises(DeidError, match=r"study 1\.2\.3\.4 is not in the store.*retrieve it"):
        deidentify_into(corpus.store, [corpus.b, "1.2.3.4"], DeidProfile(name="b"), "s",
                        Store(tmp_path / "w"))
    with pytest.raises(DeidError, match="no study"):
        deidentify_into(corpus.store, [], DeidProfile(name="b"), "s", Store(tmp_path / "w"))


def test_a_damaged_file_fails_the_copies_with_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path / "station")
    ds = phi.synth.image(phi.synth.StudyInfo(phi.BOB), "CT", rows=16, columns=16)
    path = phi.put(store, ds)
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(DeidError, match=r"cannot be de-identified.*mw-tui store check"):
        deidentify_into(store, [ds.StudyInstanceUID], DeidProfile(name="b"), "s",
                        Store(tmp_path / "w"))
    path.unlink()
    with pytest.raises(DeidError, match="file is missing"):
        deidentify_into(store, [ds.StudyInstanceUID], DeidProfile(name="b"), "s",
                        Store(tmp_path / "w"))


def test_nothing_left_to_copy_is_said(tmp_path: Path) -> None:
    store = Store(tmp_path / "station")
    study = phi.synth.StudyInfo(phi.BOB)
    phi.put(store, phi.synth.image(study, "US", rows=8, columns=8, bits=8))
    with pytest.raises(DeidError, match="keep_with_warning"):
        deidentify_into(store, [study.study_uid], DeidProfile(name="b"), "s",
                        Store(tmp_path / "w"))
