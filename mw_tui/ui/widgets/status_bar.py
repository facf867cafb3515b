"""The line at the top of every screen: receiver, free space, devices (and a disc or stick
holding DICOM content to import), jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from mw_tui.station import StationStatus
from mw_tui.station.models import Device, OpticalDrive, UsbStick
from mw_tui.util import text as fmt


class StatusBar(Widget):
    """Shows a `StationStatus`, the devices present and what keeps the station from
    working (`problem`), in one line; shorter forms on narrow terminals."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text;
    }
    StatusBar.-problem {
        background: $error 40%;
    }
    """

    status: reactive[StationStatus | None] = reactive(None)
    """The station's latest status (None: the station is still starting)."""
    devices: reactive[tuple[Device, ...]] = reactive(())
    """The drives and sticks present."""
    problem: reactive[str] = reactive("")
    """A short text: why the receiver does not listen, ..."""
    dicom: reactive[frozenset[str]] = reactive(frozenset())
    """The devices (by DEVPATH) holding a medium with DICOM content to import."""

    def watch_problem(self, problem: str) -> None:
        self.set_class(bool(problem), "-problem")

    def describe(self, width: int) -> Text:
        wide = self.line(narrow=False)
        return wide if wide.cell_len <= width else self.line(narrow=True)

    def line(self, narrow: bool) -> Text:
        s = self.status
        out = Text()
        if s is None:
            out.append(" starting the station…", style="italic")
            return out
        r = s.receiver
        if r.listening:
            out.append(" ● ", style="bold green")
            where = f"{r.ae_title}:{r.port}" if narrow else f"{r.ae_title} on {r.bind}:{r.port}"
            out.append(where)
            out.append(f" {r.associations} assoc" if narrow else
                       f" listening, {fmt.count(r.associations, 'association')} now")
        else:
            out.append(" ○ ", style="bold red")
            out.append(f"{r.ae_title}: not receiving")
        sep = " │ "
        out.append(sep + f"{fmt.human_size(s.free_bytes)} free")
        drives = [d for d in self.devices if isinstance(d, OpticalDrive)]
        sticks = [d for d in self.devices if isinstance(d, UsbStick)]
        if drives:
            d = drives[0]
            media = d.media.describe() if not narrow else (
                "no disc" if not d.media.present else
                f"{d.media.state.value} {d.media.type.value}")
            if d.devpath in self.dicom:
                out.append(sep + (f"{d.devname}: " if not narrow else ""))
                out.append("DICOM disc: F9" if narrow else "DICOM disc, F9 imports",
                           style="bold reverse")
            else:
                out.append(sep + (f"{d.devname}: {media}" if not narrow else media))
            if len(drives) > 1:
                out.append(f" +{len(drives) - 1}")
        else:
            out.append(sep + "no drive")
        out.append(sep + (f"{len(sticks)} USB" if narrow else fmt.count(len(sticks), "USB stick")))
        dicom = [d for d in sticks if d.devpath in self.dicom]
        if dicom:
            out.append(" ")
            out.append("DICOM: F9" if narrow else f"DICOM on {dicom[0].devname}, F9 imports",
                       style="bold reverse")
        out.append(sep + (f"{s.jobs_running} job{'s' if s.jobs_running != 1 else ''}" +
                          ("" if narrow else " running")))
        if s.demo:
            out.append(sep)
            out.append("DEMO", style="bold reverse")
        if self.problem:
            out.append(sep)
            out.append(self.problem, style="bold")
        return out

    def render(self) -> Text:
        text = self.describe(self.size.width)
        text.truncate(max(1, self.size.width), overflow="ellipsis")
        return text

    def update_from(self, status: StationStatus | None, devices: Sequence[Device],
                    problem: str, dicom: Iterable[str] = ()) -> None:
        self.status = status
        self.devices = tuple(devices)
        self.problem = problem
        self.dicom = frozenset(dicom)
