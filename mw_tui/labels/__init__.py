"""Disc labels: what a disc says (patient, studies, disc n of m, the job's barcode), laid
out from a site template onto the disc's printable ring, drawn as a PDF of the disc's
size, as a picture, or as text for the screen, and printed through CUPS.

    labels = Labels(config.labels)          # template and geometry checked here
    content = content_for(store_study_rows, disc_number=1, disc_count=2, job_id=42, ...)
    pdf = labels.pdf(content, workdir / "label-1.pdf")
    status = labels.print(pdf, on_status=..., cancel=...)   # KEPT without a printer
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mw_tui.config.labels import LabelsConfig
from mw_tui.labels.content import (
    DICOM_ONLY,
    DICOM_PLUS_WEB,
    FIELDS,
    STUDY_FIELDS,
    LabelContent,
    StudyFacts,
    StudyLine,
    content_for,
)
from mw_tui.labels.fonts import LabelError
from mw_tui.labels.layout import DiscGeometry, Layout, lay_out
from mw_tui.labels.printing import (
    FINISHED,
    CancelToken,
    PrintState,
    PrintStatus,
    StatusCallback,
    print_label,
)
from mw_tui.labels.render import render_image, render_pdf, render_text
from mw_tui.labels.template import Template, TemplateError, load_template, parse_template

__all__ = ["DICOM_ONLY", "DICOM_PLUS_WEB", "FIELDS", "FINISHED", "STUDY_FIELDS",
           "DiscGeometry", "LabelContent", "LabelError", "Labels", "Layout", "PrintState",
           "PrintStatus", "StudyFacts", "StudyLine", "Template", "TemplateError", "content_for",
           "lay_out",
           "load_template", "parse_template", "print_label", "render_image", "render_pdf",
           "render_text"]

# A long label: the template must place it (no line in the disc's centre, a barcode
# for a long job id) before the station relies on it.
SAMPLE = LabelContent(
    patient_name="Papadopoulou-Schmidt^Anna-Katharina^Eleni", patient_id="PID-0000000000",
    birth_date="19700101", studies=(StudyLine("20240131", "CT/SR", "Thorax"),) * 5,
    disc_number=10, disc_count=10, volume_label="2601261530_10OF10",
    institution="University Hospital", station="MW_TUI", date="20260126",
    job_id="MW_TUI-000000")


class Labels:
    """The station's labels as configured ([labels]). Raises TemplateError when the
    template cannot be read or does not fit the disc, LabelError without the fonts."""

    def __init__(self, config: LabelsConfig | None = None) -> None:
        self.config = config or LabelsConfig()
        self.template = load_template(self.config.template)
        self.geometry = DiscGeometry.from_config(self.config)
        sample = lay_out(SAMPLE, self.template, self.geometry)
        if self.template.barcode is not None and sample.barcode is None:
            raise TemplateError(f"{self.template.source}: the barcode has no room for a job "
                                "id such as MW_TUI-000000: move it nearer the centre, or "
                                "make its module smaller")

    def layout(self, content: LabelContent) -> Layout:
        return lay_out(content, self.template, self.geometry)

    def pdf(self, content: LabelContent, path: Path | str) -> Path:
        """The label as a PDF page of the disc's size (for CUPS and for keeping)."""
        return render_pdf(self.layout(content), path)

    def image(self, content: LabelContent, path: Path | str, dpi: int = 300) -> Path:
        """The label as a PNG, or a JPEG for a .jpg path (previews, disc publishers)."""
        return render_image(self.layout(content), path, dpi)

    def text(self, content: LabelContent, width: int = 44) -> str:
        """The label's lines for the terminal preview."""
        return render_text(content, self.template, width)

    def print(self, pdf: Path | str, *, copies: int = 1, on_status: StatusCallback | None = None,
              cancel: CancelToken | None = None, title: str = "mw-tui disc label",
              options: Sequence[str] | None = None, poll: float = 0.5) -> PrintStatus:
        """Print the label PDF on [labels] printer and follow it to its end (KEPT when no
        printer is set)."""
        return print_label(pdf, self.config.printer,
                           options=self.config.options if options is None else options,
                           copies=copies, timeout=self.config.print_timeout, poll=poll,
                           title=title, on_status=on_status, cancel=cancel)
