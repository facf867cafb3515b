"""Disc labels as the technician and the patient see them: the PDF's text (poppler's
pdftotext), its page (pdfinfo), the barcode read back (zbar), the terminal preview."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from pyzbar import pyzbar

from mw_tui.config import LabelsConfig
from mw_tui.labels import (
    DICOM_ONLY,
    LabelContent,
    Labels,
    StudyLine,
    TemplateError,
    content_for,
    render_pdf,
)
from tests.peers import need

GREEK = "Παπαδόπουλος^Γιώργος"
GERMAN = "Müller-Lüdenscheidt^Jürgen"
STUDIES = (StudyLine("20240131", "CT", "Thorax mit KM"), StudyLine("20240201", "MR/SR",
                                                                    "Knie links"))


def content(name: str = GERMAN, **kw: object) -> LabelContent:
    values: dict[str, object] = dict(
        patient_name=name, patient_id="PID-4711", birth_date="19650412", studies=STUDIES,
        disc_number=2, disc_count=3, volume_label="2601261530_2OF3",
        institution="Universitätsklinikum Köln", station="MW_TUI", date="20260126",
        copy_type="Patient copy", job_id="MW_TUI-42")
    values.update(kw)
    return LabelContent(**values)  # type: ignore[arg-type]


def pdftotext(pdf: Path, *args: str) -> str:
    need("pdftotext")
    return subprocess.run(["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def page_mm(pdfinfo: str) -> tuple[float, float]:
    m = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", pdfinfo)
    assert m, pdfinfo
    return float(m.group(1)) * 25.4 / 72, float(m.group(2)) * 25.4 / 72


def decode(image: Path) -> list[bytes]:
    return [s.data for s in pyzbar.decode(Image.open(image)) if s.type == "CODE128"]


@pytest.mark.parametrize(("name", "shown"), [(GREEK, "Παπαδόπουλος, Γιώργος"),
                                             (GERMAN, "Müller-Lüdenscheidt, Jürgen")])
def test_the_pdf_says_every_merge_field(tmp_path: Path, name: str, shown: str) -> None:
    pdf = Labels().pdf(content(name), tmp_path / "label.pdf")
    text = " ".join(pdftotext(pdf).split())
    for expected in (shown, "PID-4711 · 1965-04-12", "2024-01-31 CT Thorax mit KM",
                     "2024-02-01 MR/SR Knie links", "DICOM PLUS WEB · Disc 2 of 3",
                     "2601261530_2OF3 · 2026-01-26", "Universitätsklinikum Köln",
                     "Patient copy", "Job MW_TUI-42", "MW_TUI"):
        assert expected in text, (expected, text)


def test_the_barcode_reads_back_as_the_job_id(tmp_path: Path) -> None:
    labels = Labels()
    png = labels.image(content(GREEK), tmp_path / "label.png")
    assert decode(png) == [b"MW_TUI-42"]
    jpeg = labels.image(content(job_id="1234567"), tmp_path / "label.jpg", dpi=200)
    assert decode(jpeg) == [b"1234567"]
    need("pdftoppm")  # the PDF's barcode too, as poppler draws it
    pdf = labels.pdf(content(), tmp_path / "label.pdf")
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-singlefile", str(pdf),
                    str(tmp_path / "page")], check=True)
    assert decode(tmp_path / "page.png") == [b"MW_TUI-42"]


def test_the_page_is_the_disc_and_the_text_stays_in_its_printable_ring(tmp_path: Path) -> None:
    need("pdfinfo")
    long_name = "Papadopoulou-Schmidt-Wagner^Anna-Katharina^Eleni-Sophia"
    pdf = Labels().pdf(content(long_name), tmp_path / "label.pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+1\n", info)
    assert page_mm(info) == pytest.approx((120, 120), abs=0.01)  # the disc, 120 mm
    words = re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"',
                       pdftotext(pdf, "-bbox"))
    assert len(words) > 20
    centre, mm = 340.157 / 2, 72 / 25.4
    for box in words:
        x0, y0, x1, y1 = (float(v) for v in box)
        far = max(math.hypot(x - centre, y - centre) for x in (x0, x1) for y in (y0, y1))
        near = min(abs(y0 - centre), abs(y1 - centre))
        assert far <= 59 * mm + 1, box  # inside the 118 mm printable area
        assert near >= 20 * mm - 1, box  # clear of the 40 mm unprintable centre
    template = tmp_path / "mini.toml"  # a mini disc needs a template of its own
    template.write_text('[[line]]\ntext = "{patient_name}"\ny = 28\n')
    mini = Labels(LabelsConfig(template=str(template), outer_diameter_mm=80,
                               printable_outer_mm=78))
    small = render_pdf(mini.layout(content()), tmp_path / "mini.pdf")
    assert "Müller-Lüdenscheidt, Jürgen" in pdftotext(small)
    info = subprocess.run(["pdfinfo", str(small)], capture_output=True, text=True).stdout
    assert page_mm(info) == pytest.approx((80, 80), abs=0.01)


def test_long_text_shrinks_then_is_cut_never_spills(tmp_path: Path) -> None:
    layout = Labels().layout(content("A" * 40 + "^" + "B" * 40, institution="X" * 200))
    name = next(t for t in layout.texts if t.text.startswith("AAA"))
    assert name.size < 12 and name.text.endswith("…")
    assert any("cut to fit" in w for w in layout.warnings)


def test_the_terminal_preview_says_the_same(tmp_path: Path) -> None:
    many = (*STUDIES, StudyLine("20240202", "CR", "Hand"), StudyLine("", "US", "Abdomen"))
    text = Labels().text(content(GREEK, studies=many, contents=DICOM_ONLY, birth_date=""),
                         width=40)
    lines = [line.strip() for line in text.splitlines()]
    assert lines[:5] == ["Universitätsklinikum Köln", "Παπαδόπουλος, Γιώργος", "PID-4711",
                         "2024-01-31 CT Thorax mit KM", "2024-02-01 MR/SR Knie links"]
    assert "+ 2 more studies" in lines and "DICOM ONLY · Disc 2 of 3" in lines
    assert "||||| MW_TUI-42 |||||" in lines
    assert all(len(line) <= 40 for line in text.splitlines())


def test_the_content_of_studies_in_the_store(tmp_path: Path) -> None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from mw_tui.demo import synth
    from mw_tui.standard import sop
    from mw_tui.store import Store

    store = Store(tmp_path / "store")
    patient = synth.PatientInfo(name=GREEK, patient_id="GR-1", charset="ISO_IR 192")
    uids = []
    for modality, description in (("CT", "Thorax"), ("MR", "Knie")):
        study = synth.StudyInfo(patient=patient, description=description)
        ds = synth.image(study, modality, rows=8, columns=8)
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_dataset(fp, ds)
        store.store_bytes(ds.SOPClassUID, ds.SOPInstanceUID, sop.EXPLICIT_VR_LE, fp.getvalue())
        uids.append(study.study_uid)
    rows = [store.index.study(uid) for uid in uids]
    label = content_for([r for r in rows if r is not None], disc_count=2, job_id=7,
                        institution="Klinik", web=False)
    text = Labels().text(label)
    for expected in ("Παπαδόπουλος, Γιώργος", "GR-1 · 1970-01-01", "2026-01-01 CT Thorax",
                     "2026-01-01 MR Knie", "DICOM ONLY · Disc 1 of 2", "Job 7"):
        assert expected in text, text


def test_a_site_template(tmp_path: Path) -> None:
    template = tmp_path / "site.toml"
    template.write_text('date_format = "%d.%m.%Y"\nguides = false\n'
                        '[[line]]\ntext = "{patient_name} (*{birth_date})"\ny = 40\nsize = 11\n'
                        '[[line]]\ntext = "{{{copy_type}}}"\ny = -30\n'
                        '[barcode]\ny = -45\n')
    labels = Labels(LabelsConfig(template=str(template)))
    pdf = labels.pdf(content(), tmp_path / "label.pdf")
    assert " ".join(pdftotext(pdf).split()) == "Müller-Lüdenscheidt, Jürgen (*12.04.1965) " \
                                               "{Patient copy}"
    assert decode(labels.image(content(), tmp_path / "label.png")) == [b"MW_TUI-42"]


@pytest.mark.parametrize(("text", "error"), [
    ('[[line]]\ntext = "{patient_name.__class__}"\ny = 40', "unknown merge field"),
    ('[[line]]\ntext = "{nonsense}"\ny = 40', "known fields: {patient_name}"),
    ('[[line]]\ntext = "{patient_name"\ny = 40', "a lone '{'"),
    ('[[line]]\ntext = "x"\ny = 5', "reaches into the disc's unprintable centre"),
    ('[[line]]\ntext = "x"\ny = 40\nsize = 100', "size = 100 must be a number from 3 to 40"),
    ('[[line]]\ntext = "x"\ny = 40\ncolour = "red"', "unknown key 'colour'"),
    ('[[line]]\ntext = "x"\n', "y is missing"),
    ('[barcode]\ny = 57', "the barcode has no room"),
    ('guides = true', "nothing to print"),
    ('[[line]\n', "not valid TOML"),
])
def test_template_mistakes_are_named(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=re.escape(error)):
        Labels(LabelsConfig(template=str(path)))


def test_a_missing_template_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist: fix \\[labels\\] template"):
        Labels(LabelsConfig(template=str(tmp_path / "nope.toml")))
