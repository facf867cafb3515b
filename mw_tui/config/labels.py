"""The [labels] section: the disc label's template, the disc's geometry, the printer."""

from __future__ import annotations

from dataclasses import dataclass

from mw_tui.config.checks import in_range, item


def check_options(values: list[str]) -> str | None:
    bad = [v for v in values if "=" not in v or v.startswith(("-", "=")) or "\n" in v]
    if bad:
        return f"a list of CUPS options such as \"media=Custom.120x120mm\" (not {bad[0]!r})"
    return None


def check_printer(value: str) -> str | None:
    if value == "" or (value.isprintable() and not any(c in value for c in " /#\\")):
        return None
    return "\"\" (no printer: the label is kept as a PDF) or the name of a CUPS queue " \
           "(no spaces, '/', '#' or '\\'; `lpstat -p` lists them)"


@dataclass(frozen=True)
class LabelsConfig:
    template: str = item(
        "A label template (TOML: text lines with merge fields such as {patient_name}, placed "
        "on the disc); empty = the built-in one.", default="")
    printer: str = item(
        "The CUPS printer that prints labels (a disc printer's queue, or a sheet printer for "
        "case inserts); empty = no printing: the label PDF is kept with the job.",
        check_printer, default="")
    options: list[str] = item(
        "CUPS options for that printer (lp -o), e.g. [\"media=Custom.120x120mm\"].",
        check_options, default_factory=list)
    outer_diameter_mm: float = item("The disc's diameter in mm (120 for CDs, DVDs and BDs; "
                                    "80 for mini discs).", in_range(50, 130, "mm"),
                                    default=120.0)
    inner_diameter_mm: float = item("The diameter of the disc's centre hole in mm.",
                                    in_range(5, 50, "mm"), default=15.0)
    printable_outer_mm: float = item(
        "The outer diameter of the printable area in mm (nothing is printed beyond it).",
        in_range(40, 130, "mm"), default=118.0)
    printable_inner_mm: float = item(
        "The inner diameter of the printable area in mm (about 40 for standard printable "
        "discs, 22-24 for hub-printable ones).", in_range(10, 80, "mm"), default=40.0)
    copy_type: str = item("What the disc is, printed on its label (\"Patient copy\", "
                          "\"Anonymous\", ...).", default="Patient copy")
    print_timeout: float = item(
        "Seconds the printer may take to print a label; then the print job is cancelled and "
        "the label PDF kept.", in_range(5, 3600, "seconds"), default=120.0)

    def problems(self) -> list[str]:
        """Geometry that cannot hold a label."""
        out = []
        if not (self.inner_diameter_mm < self.printable_inner_mm < self.printable_outer_mm
                <= self.outer_diameter_mm):
            out.append("the diameters must grow: inner_diameter_mm < printable_inner_mm < "
                       "printable_outer_mm <= outer_diameter_mm")
        return out
