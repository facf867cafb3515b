"""A real browser shows the images: headless Chromium opens INDEX.HTM of an extracted disc
image, follows the links it finds to a series and an image, and its screenshots show them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest
from PIL import Image

from mw_tui.demo import synth
from mw_tui.media import Profile, build_volumes, write_iso
from mw_tui.store import Store
from tests.media import images as im
from tests.peers import need

CHROMIUM = "/usr/bin/chromium"
COLUMNS, ROWS = 256, 200
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]


def ramp_ct(study: synth.StudyInfo) -> object:
    """A CT whose window maps column x to grey level x: a left-to-right ramp."""
    ds = synth.image(study, "CT", None, 7, 1, ROWS, COLUMNS, series_description="Ramp")
    raw = 1024 + np.arange(COLUMNS, dtype=np.uint16) * 4  # HU = 4 x
    ds.PixelData = np.tile(raw, (ROWS, 1)).tobytes()
    ds.WindowCenter, ds.WindowWidth = 510, 1021
    return ds


class Browser:
    """Headless Chromium with a fresh profile, started for each page."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.runs = 0

    def _run(self, *args: str) -> str:
        self.runs += 1
        profile = self.tmp / f"profile{self.runs}"
        proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def links(self, url: str) -> list[tuple[str, str]]:
        """The links of the page as the browser loaded it: (absolute URL, text)."""
        dom = self._run("--dump-dom", url)
        return [(urljoin(url, href), text) for href, text in
                re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', dom, re.S)]

    def screenshot(self, url: str, size: tuple[int, int]) -> np.ndarray:
        out = self.tmp / f"shot{self.runs + 1}.png"
        self._run(f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", url)
        return np.asarray(Image.open(out).convert("L")).astype(int)


def follow(browser: Browser, url: str, pattern: str, text: str = "") -> str:
    """The first link of the page at `url` to a URL matching `pattern` (and, given
    `text`, saying it)."""
    found = [u for u, t in browser.links(url) if re.search(pattern, u) and
             (not text or t.strip() == text)]
    assert found, f"{url} has no link matching {pattern} {text}"
    return found[0]


def ramp_rows(shot: np.ndarray, length: int) -> list[tuple[int, int]]:
    """(row, first column) of the screenshot rows holding a left-to-right ramp of at least
    `length` pixels: grey levels rising steadily (by 0 to 4 a pixel, 0.6 on average), as
    no text or broken-image icon does."""
    found = []
    steady = np.abs(np.diff(shot, axis=1) - 2) <= 2
    for y in range(shot.shape[0]):
        start = 0
        for x in [*np.flatnonzero(~steady[y]), steady.shape[1]]:
            if x - start >= length and shot[y, x] - shot[y, start] >= 0.6 * (x - start):
                found.append((y, start))
                break
            start = x + 1
    return found


def test_chromium_shows_the_images_of_the_extracted_disc(tmp_path: Path) -> None:
    need("xorriso")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (./setup.sh deps installs it)")
    store = Store(tmp_path / "store")
    study = synth.StudyInfo(description="Browser")
    im.put(store, ramp_ct(study))
    im.put(store, im.us_native_422(study, im.new_series()))
    (volume,) = build_volumes(store, [study.study_uid], Profile.STD_GEN_CD, None,
                              tmp_path / "work")
    iso = write_iso(volume, tmp_path / "disc.iso").iso
    assert iso is not None
    disc = tmp_path / "disc"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/",
                    str(disc)], capture_output=True, check=True)
    shutil.rmtree(tmp_path / "work")  # the pages show what is on the disc, nothing else
    browser = Browser(tmp_path)
    index = (disc / "INDEX.HTM").as_uri()
    patient = follow(browser, index, r"IHE_PDI/PAT\d+\.HTM$")
    study_page = follow(browser, patient, r"STU\d+\.HTM$")
    series = follow(browser, study_page, r"SER\d+\.HTM$", "7")  # the ramp's series
    thumbnails = browser.screenshot(series, (1000, 900))
    assert len(ramp_rows(thumbnails, 100)) >= 100  # the CT's thumbnail: 160 x 125
    image = follow(browser, series, r"SER\d+/B\d+/I\d+\.HTM$")
    assert re.search(r"/I0000001\.HTM$", image)
    shot = browser.screenshot(image, (1000, 900))
    rows = ramp_rows(shot, 200)
    assert len(rows) >= ROWS - 10, f"the image shows in {len(rows)} rows"
    top, left = rows[0][0], min(x for _, x in rows)
    area = shot[top:top + len(rows), left:left + 240]
    assert area.var() > 3000  # a full ramp of grey levels, not an icon on white
    assert image.startswith("file://") and (disc / "IHE_PDI").as_uri() in image
