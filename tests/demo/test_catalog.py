"""The demo archive's index: built once, reused at the next start, updated when the data
changes."""

from __future__ import annotations

import time
from pathlib import Path

from mw_tui.demo import catalog, synth
from mw_tui.demo.archive import DemoArchive
from mw_tui.demo.samples import Profile, ensure_samples


def test_restart_uses_the_cached_index(tmp_path: Path) -> None:
    ensure_samples(tmp_path, Profile.TINY)
    first = DemoArchive(tmp_path, samples_profile=Profile.TINY)
    first.start()
    first.stop()
    assert first.load_report is not None and first.catalog is not None
    assert first.load_report.read == first.load_report.files > 100
    assert (tmp_path / catalog.INDEX_NAME).exists()

    second = DemoArchive(tmp_path, samples_profile=Profile.TINY)
    start = time.monotonic()
    second.start()
    seconds = time.monotonic() - start
    second.stop()
    assert second.load_report is not None and second.catalog is not None
    assert second.load_report.read == 0  # nothing read again
    assert second.catalog.counts() == first.catalog.counts()
    print(f"restart with the cached index: {seconds * 1000:.0f} ms "
          f"(index {second.load_report.seconds * 1000:.0f} ms)")
    assert seconds < 1.0


def test_the_index_follows_changes_to_the_data(tmp_path: Path) -> None:
    ensure_samples(tmp_path, Profile.TINY)
    before, _ = catalog.load(tmp_path)

    study = synth.StudyInfo(patient=synth.PatientInfo("New^Patient", "NEW-1"),
                            accession="NEW1")
    synth.save(synth.image(study, "CT"), tmp_path / "added" / "one.dcm")
    (tmp_path / "added" / "notes").write_bytes(b"not DICOM at all")
    victim = next((tmp_path / "samples").rglob("*.dcm"))
    gone_uid = next(u for u, i in before.instances.items() if i.path == victim)
    victim.unlink()

    after, report = catalog.load(tmp_path)
    assert report.read == 2  # the new file and the non-DICOM one, nothing else
    assert study.study_uid in after.studies
    assert gone_uid not in after.instances
    assert len(after.instances) == len(before.instances)  # one gone, one added

    _, report = catalog.load(tmp_path)
    assert report.read == 0  # the non-DICOM file is remembered as such


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    ensure_samples(tmp_path, Profile.TINY)
    good, _ = catalog.load(tmp_path)
    (tmp_path / catalog.INDEX_NAME).write_text("{ not json")
    rebuilt, report = catalog.load(tmp_path)
    assert report.read == report.files
    assert rebuilt.counts() == good.counts()


def test_counts_are_computed_from_the_files(tmp_path: Path) -> None:
    ensure_samples(tmp_path, Profile.TINY)
    cat, _ = catalog.load(tmp_path)
    for study in cat.studies.values():
        n = sum(len(s.instances) for s in study.series)
        assert study.values["NumberOfStudyRelatedInstances"] == str(n)
        assert study.values["NumberOfStudyRelatedSeries"] == str(len(study.series))
