"""What the jobs tell the audit repository about a medium (Export): the studies on it
with the SOP classes and counts of what it holds; the medium an import read (Import)."""

from __future__ import annotations

from pathlib import Path

from mw_tui.audit import MediaKind
from mw_tui.config import Target, TargetKind
from mw_tui.importing import (
    DicomdirState,
    ImportPlan,
    Instance,
    Medium,
    MediumKind,
    Patient,
    Series,
    Study,
)
from mw_tui.jobs import atna
from mw_tui.jobs.models import ImportRequest, Job, JobOptions, JobState, StudyRef
from mw_tui.store import Store
from tests.conftest import make_config
from tests.jobs.test_work_folder import a_study_in_the_store

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_an_export_counts_what_the_medium_holds(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    uid = a_study_in_the_store(config)  # 3 CT images
    store = Store(config.storage)
    try:
        first = store.index.study_instances(uid)[0].sop_uid
        target = Target(TargetKind.ISO, str(tmp_path))
        whole = Job(1, JobState.DONE, target, "STD-GEN-CD", (StudyRef(uid),))
        asked = Job(2, JobState.DONE, target, "STD-GEN-CD", (StudyRef(uid),),
                    options=JobOptions(instances=(first,)))  # a RIS asked for one image
        counts = [[(c.uid, c.instances) for c in atna.export(
            store, job, "MW1", None, str(tmp_path), "").studies[0].sop_classes]
                  for job in (whole, asked)]
    finally:
        store.close()
    assert counts == [[(CT, 3)], [(CT, 1)]]


def outside_medium(kind: MediumKind, disc: str = "") -> Medium:
    """A medium of one small CT image (far less than a CD holds)."""
    image = Instance("DICOM/CT1", 600_000, CT, "1.2.3.4.1", "1.2.840.10008.1.2.1")
    study = Study("1.2.3.4", "20240105", "", "", "", "", (Series("1.2.3.4.5", "CT", "1", "",
                                                                   (image,)),))
    patient = Patient("Doe^John", "EXT-4711", "", "19600214", "M", (study,))
    return Medium("/dev/sr0", kind, "OUTSIDE", DicomdirState.USED, (patient,), (), disc=disc)


def test_an_import_names_the_disc_the_drive_reported_never_guessed_from_its_size() -> None:
    job = Job(1, JobState.DONE, None, "", (), options=JobOptions(
        importing=ImportRequest("/dev/sr0", ImportPlan("pacs", None))))
    kinds = {(kind, disc): atna.imported(job, outside_medium(kind, disc)).media.kind
             for kind, disc in ((MediumKind.DISC, "CD"), (MediumKind.DISC, "DVD"),
                                (MediumKind.DISC, "BD"), (MediumKind.DISC, ""),
                                (MediumKind.MOUNTED, ""), (MediumKind.ISO_FILE, ""))}
    assert kinds == {(MediumKind.DISC, "CD"): MediaKind.CD,
                     (MediumKind.DISC, "DVD"): MediaKind.DVD,
                     (MediumKind.DISC, "BD"): MediaKind.BD,
                     (MediumKind.DISC, ""): MediaKind.DVD,  # the drive did not say
                     (MediumKind.MOUNTED, ""): MediaKind.USB,
                     (MediumKind.ISO_FILE, ""): MediaKind.FILE}
