"""Values as people read them, on the screens and on the command line: names, dates,
sizes, durations, counts."""

from __future__ import annotations

import time


def person_name(pn: str) -> str:
    """DICOM PN -> "Family, Given Middle" (the first component group, the alphabetic one)."""
    if not pn:
        return ""
    group = pn.split("=")[0] or next((g for g in pn.split("=") if g), "")
    parts = [p.strip() for p in group.split("^")]
    family = parts[0] if parts else ""
    given = " ".join(p for p in parts[1:3] if p)
    prefix = parts[3] if len(parts) > 3 else ""
    suffix = parts[4] if len(parts) > 4 else ""
    name = f"{family}, {given}" if given else family
    name = f"{prefix} {name}" if prefix else name
    return f"{name} {suffix}" if suffix else name


def dicom_date(da: str) -> str:
    """YYYYMMDD -> YYYY-MM-DD (anything else as it is)."""
    da = da.strip()
    if len(da) == 8 and da.isdigit():
        return f"{da[:4]}-{da[4:6]}-{da[6:]}"
    return da


def human_size(n: float | None, unknown: str = "?") -> str:
    """Bytes in decimal units, as media are sold (700 MB, 4.7 GB); the one size formatter
    of the station."""
    if n is None:
        return unknown
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def duration(seconds: float | None) -> str:
    """3 s, 2 min 05 s, 1 h 02 min; '' when unknown."""
    if seconds is None or seconds < 0:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def clock_time(at: float, now: float) -> str:
    """A moment as HH:MM today, MM-DD HH:MM this year, else YYYY-MM-DD (local time)."""
    if not at:
        return ""
    t, today = time.localtime(at), time.localtime(now)
    if t[:3] == today[:3]:
        return time.strftime("%H:%M", t)
    if t[0] == today[0]:
        return time.strftime("%m-%d %H:%M", t)
    return time.strftime("%Y-%m-%d", t)


def count(n: int | None, one: str, many: str | None = None) -> str:
    if n is None:
        return f"? {many or one + 's'}"
    return f"{n} {one if n == 1 else (many or one + 's')}"


def terminal_too_small(width: int, height: int) -> str:
    return (f"This window is {width}x{height} characters; the station needs at least 80x24. "
            "Make the window (or the font) bigger, or maximise the terminal.")
