"""What the medium will say about itself: volume label, patient, studies, disc n of m."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from mw_tui.station.models import StudyResult, fileset_id
from mw_tui.util import text as fmt


def label_lines(studies: Sequence[StudyResult], created: datetime, count: int,
                institution: str = "", anonymous: str = "") -> list[str]:
    """The label's lines for disc 1 of `count` (the others differ only in the number);
    an anonymous copy (`anonymous`: its profile) names no patient and no institution."""
    volume = fileset_id(created, 1, max(1, count))
    patients = list(dict.fromkeys((s.patient_name, s.patient_id, s.birth_date)
                                  for s in studies))
    lines = [f"{volume}   {'disc 1 of ' + str(count) if count > 1 else ''}".rstrip()]
    if anonymous:
        lines.append(f"ANONYMOUS COPY ({len(patients)} pseudonymous patient"
                     f"{'s' if len(patients) > 1 else ''}, profile {anonymous})")
        patients, institution = [], ""
    for name, pid, born in patients[:2]:
        line = fmt.person_name(name) or "(no name)"
        if pid:
            line += f" · ID {pid}"
        if born:
            line += f" · born {fmt.dicom_date(born)}"
        lines.append(line)
    if len(patients) > 2:
        lines.append(f"… and {len(patients) - 2} more patients")
    study_text = "; ".join(  # an anonymous copy's dates and descriptions may be gone
        f"{'/'.join(s.modalities) or '?'}" if anonymous else
        f"{'/'.join(s.modalities) or '?'} {fmt.dicom_date(s.study_date)} {s.description}".strip()
        for s in studies[:3])
    if len(studies) > 3:
        study_text += f"; +{len(studies) - 3} more"
    lines.append(study_text)
    made = f"made {created:%Y-%m-%d %H:%M}"
    lines.append(f"{institution} · {made}" if institution else made)
    return lines


class LabelPreview(Static):
    DEFAULT_CSS = """
    LabelPreview {
        height: auto;
        border: round $secondary;
        border-title-align: left;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Label"

    def show(self, studies: Sequence[StudyResult], created: datetime, count: int,
             institution: str = "", anonymous: str = "") -> None:
        lines = label_lines(studies, created, count, institution, anonymous)
        text = Text(lines[0], style="bold")
        for line in lines[1:]:
            text.append("\n" + line)
        self.update(text)
