"""What an outside medium holds, as a tree: patients, their studies (date, modalities,
description, series, images, size, files that cannot be imported), each study's series.
The patient being imported is marked."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree

from mw_tui.station.models import Medium, OutsidePatient, OutsideSeries, OutsideStudy
from mw_tui.util import text as fmt


def patient_label(p: OutsidePatient, chosen: bool) -> Text:
    text = Text("▶ " if chosen else "  ", style="bold")
    text.append(fmt.person_name(p.name) or "(no name)", style="bold" if chosen else "")
    text.append(f"  {p.patient_id or 'no ID'}")
    if p.issuer:
        text.append(f" ({p.issuer})", style="dim")
    if p.birth_date:
        text.append(f" · born {fmt.dicom_date(p.birth_date)}")
    if p.sex:
        text.append(f" · {p.sex}")
    text.append(f" · {fmt.count(len(p.studies), 'study', 'studies')}", style="dim")
    return text


def study_label(s: OutsideStudy) -> Text:
    text = Text(f"{fmt.dicom_date(s.date) or 'no date'}  {'/'.join(s.modalities)} "
                f"{s.description}".rstrip())
    text.append(f"  {fmt.count(len(s.series), 'series', 'series')}, "
                f"{fmt.count(s.instance_count, 'image')}, {fmt.human_size(s.size)}",
                style="dim")
    if s.accession:
        text.append(f" · acc {s.accession}", style="dim")
    if s.unreadable:
        text.append(f" · {len(s.unreadable)} cannot be imported", style="yellow")
    return text


def series_label(s: OutsideSeries) -> Text:
    return Text(f"{s.modality} #{s.number or '?'} {s.description}  "
                f"{fmt.count(len(s.instances), 'image')}, {fmt.human_size(s.size)}")


class MediumTree(Tree[str]):
    """`show(medium, chosen)`: the medium's patients (the chosen one marked and open)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Medium", id=id)
        self.show_root = False

    def show(self, medium: Medium | None, chosen: int = 0, note: str = "") -> None:
        self.clear()
        if medium is None:
            self.root.add_leaf(Text(note or "Nothing read yet.", style="italic dim"))
            return
        if not medium.patients:
            self.root.add_leaf(Text("No DICOM file this station can import is on it.",
                                    style="bold yellow"))
        for i, p in enumerate(medium.patients):
            node = self.root.add(patient_label(p, i == chosen), data=f"p{i}",
                                 expand=i == chosen)
            for study in p.studies:
                child = node.add(study_label(study), data=study.study_uid)
                for series in study.series:
                    child.add_leaf(series_label(series))
