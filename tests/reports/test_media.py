"""A report fetched from a broker travels on the medium: SR DOCUMENT record in the
DICOMDIR, a readable page under IHE_PDI/, listed in README.TXT and INDEX.HTM."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pydicom import dcmread

from mw_tui.demo import synth
from mw_tui.media import Profile, build_volumes, stage_tree
from mw_tui.reports import fetch_reports
from mw_tui.store import Store
from tests.peers import need
from tests.reports.broker import Broker, report
from tests.reports.conftest import config_for, put, source_for

TEXT = "Lungs clear.\nHeart: normal size.\n\nNo pleural effusion; Ødegård sign absent."


def test_a_fetched_report_is_on_the_medium_in_dicom_and_readable(
        tmp_path: Path, store: Store, study: synth.StudyInfo, broker: Broker) -> None:
    pdf = synth.encapsulated_pdf(study, synth.minimal_pdf("Scanned referral"), "Referral")
    put(store, pdf)
    broker.reports = [report(study.study_uid, "ACC301", "P003", "R-1", TEXT,
                             impressions="Normal chest.")]
    config = config_for(tmp_path, (source_for(broker),))
    result = fetch_reports(config, store, study.study_uid)
    assert result.ok and result.count == 2
    sr_uid = next(r.sop_uid for r in result.reports if r.kind.value == "mitra")

    (volume,) = build_volumes(store, [study.study_uid], Profile.STD_GEN_CD, None,
                              tmp_path / "work")
    root = stage_tree(volume, tmp_path / "medium")

    dicomdir = dcmread(root / "DICOMDIR")
    leaves = [r for r in dicomdir.DirectoryRecordSequence
              if r.DirectoryRecordType in ("SR DOCUMENT", "ENCAP DOC")]
    sr = next(r for r in leaves if r.ReferencedSOPInstanceUIDInFile == sr_uid)
    assert sr.DirectoryRecordType == "SR DOCUMENT"
    assert sr.VerificationFlag == "VERIFIED" and sr.CompletionFlag == "COMPLETE"
    assert sr.ConceptNameCodeSequence[0].CodeMeaning == "Diagnostic Imaging Report"
    assert {r.DirectoryRecordType for r in leaves} == {"SR DOCUMENT", "ENCAP DOC"}
    on_medium = dcmread(root.joinpath(*sr.ReferencedFileID))
    assert on_medium.SOPInstanceUID == sr_uid
    need("dciodvfy")
    out = subprocess.run(["dciodvfy", str(root / "DICOMDIR")], capture_output=True,
                         text=True, errors="replace", timeout=60)
    assert "Error" not in out.stdout + out.stderr, out.stdout + out.stderr

    readme = (root / "README.TXT").read_text("utf-8")
    assert "2 reports" in readme
    listed = [line for line in readme.splitlines() if line.startswith("- ")]
    assert any(line.startswith("- Diagnostic Imaging Report (2024-01-16): IHE_PDI/")
               for line in listed), readme
    assert any(line.startswith("- Referral") for line in listed), readme
    index = (root / "INDEX.HTM").read_text("utf-8")
    assert "<h2>Reports</h2>" in index
    assert "Diagnostic Imaging Report</a>" in index and "Referral</a>" in index
    linked = re.findall(r'href="(IHE_PDI/[^"]+\.(?:HTM|PDF))"', index)
    assert sum(h.endswith(".PDF") for h in linked) == 1 and len(linked) >= 3  # + patient page
    for href in linked:
        assert (root / href).is_file(), href
    pages = {p.name: p.read_text("utf-8") for p in (root / "IHE_PDI").glob("*.HTM")}
    study_page = next(text for text in pages.values() if "<h2>Reports</h2>" in text)
    assert "Diagnostic Imaging Report" in study_page and "Referral" in study_page
    report_page = next(text for text in pages.values()
                       if "Lungs clear." in text and "Normal chest." in text)
    assert "Ødegård sign absent." in report_page and "Müller^Jürgen" in report_page
    assert list((root / "IHE_PDI").glob("*.PDF"))

