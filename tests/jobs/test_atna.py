"""What the jobs tell the audit repository about a medium (Export): the studies on it
with the SOP classes and counts of what it holds."""

from __future__ import annotations

from pathlib import Path

from mw_tui.config import Target, TargetKind
from mw_tui.jobs import atna
from mw_tui.jobs.models import Job, JobOptions, JobState, StudyRef
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
