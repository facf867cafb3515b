"""The images on the web pages: a series' grid of thumbnails, a page per image, key images.

Every name is ISO 9660 level 1. A series' images are in `IHE_PDI/SERnnnnn/`, in folders of
BLOCK: its stack of image pages `Bbbbb/Innnnnnn.HTM` (every frame shown, in instance order;
an instance without a preview gets a page saying why) with their previews
`Bbbbb/Innnnnnn.JPG`, and a thumbnail `Bbbbb/Tnnnnnnn.JPG` per image instance (small
folders: an ISO image's directories cost the square of their size to lay out). Pages link
previous / next / back with access keys, so a keyboard pages through a stack.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mw_tui.media.content import Item, Placed
from mw_tui.media.render import Preview, Rendering
from mw_tui.media.volume import WEB_DIR, WebImages
from mw_tui.media.xhtml import img, link, page

BLOCK = 100  # image pages (with their previews) and thumbnails per folder
KEYS = ("Keys: Alt+N next image, Alt+P previous, Alt+B back to the series "
        "(Alt+Shift+key in Firefox, Ctrl+Option+key on a Mac).")
NOT_FOR_DIAGNOSIS = ("These pictures are previews to look at, not for diagnosis: the DICOM "
                     "files on this medium are the originals.")


@dataclass(frozen=True, slots=True)
class SeriesPlace:
    """Where a series is on the web pages (names under IHE_PDI/) and its title."""

    folder: str  # "SER00001": its images and image pages
    page: str  # "SER00001.HTM": its page
    title: str  # "Series 3: Axial T2"


@dataclass(slots=True)
class Gallery:
    """What a series adds to the web pages."""

    grid: list[str] = field(default_factory=list)  # XHTML for its page
    pages: dict[str, bytes] = field(default_factory=dict)  # image pages: dest -> XHTML
    pictures: dict[str, Preview] = field(default_factory=dict)  # dest -> JPEG to copy
    key: str = ""  # XHTML cell of its key image for the study page ("" when none)


_Entry = tuple[Item, Rendering, Preview | None]


def _in_block(n: int, name: str) -> str:
    """The path of the n-th image's (or thumbnail's) file in the series folder."""
    return f"B{(n - 1) // BLOCK + 1:04d}/{name}"


def _page_of(n: int) -> str:
    return _in_block(n, f"I{n:07d}.HTM")


def _caption(item: Item, position: int, r: Rendering) -> str:
    number = item.instance_number.strip() or str(position)
    frames = f" ({r.frame_count} frames)" if r.frame_count > 1 else ""
    return number + frames


def gallery(place: SeriesPlace, items: Sequence[Item], placed: Mapping[str, Placed],
            level: WebImages, renderings: Mapping[str, Rendering]) -> Gallery:
    """The grid, image pages and key image of one series (nothing for NONE, or for a
    series without image instances)."""
    e = html.escape
    shown = [(item, renderings[item.sop_uid]) for item in items if item.sop_uid in renderings]
    if level is WebImages.NONE or not shown:
        return Gallery()
    out = Gallery()
    stack: list[_Entry] = []
    first: dict[str, int] = {}  # SOP Instance UID -> its first place in the stack
    if level is WebImages.ALL:
        for item, r in shown:
            first[item.sop_uid] = len(stack) + 1
            stack += [(item, r, p) for p in r.frames] or [(item, r, None)]
    cells: list[str] = []
    keyable: list[tuple[int, str]] = []  # (thumbnail number, its image tag)
    for k, (item, r) in enumerate(shown, 1):
        caption = e(_caption(item, k, r))
        target = f"{place.folder}/{_page_of(first[item.sop_uid])}" if first else ""
        if r.thumbnail is None:
            text = f"Image {caption}: no preview ({e(r.problem)})"
            cells.append('<div class="cell missing">'
                         + (f'<a href="{target}">{text}</a>' if target else text) + "</div>")
            continue
        thumb = f"{place.folder}/{_in_block(k, f'T{k:07d}.JPG')}"
        out.pictures[f"{WEB_DIR}/{thumb}"] = r.thumbnail
        tag = img(thumb, r.thumbnail.width, r.thumbnail.height, f"Image {_caption(item, k, r)}")
        keyable.append((k, tag))
        picture = f'<a href="{target}">{tag}</a>' if target else tag
        cells.append(f'<div class="cell">{picture}<br />{caption}</div>')
    if level is WebImages.ALL:
        how = ("Click an image to see it larger; then the keys Alt+N and Alt+P page through "
               "the series.")
    else:
        how = "Thumbnails only: the larger previews are not on this medium."
    out.grid = ["<h2>Images</h2>", f'<p class="meta">{len(shown)} image(s). {e(how)} '
                f"{e(NOT_FOR_DIAGNOSIS)}</p>", '<div class="grid">', *cells, "</div>"]
    if keyable:
        k, tag = keyable[len(keyable) // 2]
        item = shown[k - 1][0]
        href = f"{place.folder}/{_page_of(first[item.sop_uid])}" if first else place.page
        out.key = (f'<div class="cell"><a href="{e(href)}">{tag}</a><br />'
                   f"{e(place.title)}</div>")
    for n, entry in enumerate(stack, 1):
        out.pages[f"{WEB_DIR}/{place.folder}/{_page_of(n)}"] = _image_page(
            place, n, len(stack), entry, placed, out.pictures)
    return out


def _image_page(place: SeriesPlace, n: int, total: int, entry: _Entry,
                placed: Mapping[str, Placed], pictures: dict[str, Preview]) -> bytes:
    e = html.escape
    item, r, preview = entry
    heading = f"{place.title}: image {n} of {total}"
    nav = [link(f"../{_page_of(n - 1)}", "< Previous", "p") if n > 1
           else '<span class="meta">&lt; Previous</span>',
           link(f"../../{place.page}", "Back to the series", "b"),
           link(f"../{_page_of(n + 1)}", "Next >", "n") if n < total
           else '<span class="meta">Next &gt;</span>']
    body = [f"<h1>{e(place.title)}</h1>",
            f"<p><strong>Image {n} of {total}</strong></p>",
            f'<p class="nav">{" ".join(nav)}</p>']
    number = item.instance_number.strip() or "-"
    if preview is not None:
        name = f"I{n:07d}.JPG"
        pictures[f"{WEB_DIR}/{place.folder}/{_in_block(n, name)}"] = preview
        tag = img(name, preview.width, preview.height, f"Image {n} of {total}")
        if n < total:
            tag = f'<a href="../{_page_of(n + 1)}">{tag}</a>'
        body.append(f'<div class="view">{tag}</div>')
        frame = f", frame {preview.frame} of {r.frame_count}" if r.frame_count > 1 else ""
        columns, rows = r.original
        size = f"Shown at {preview.width} x {preview.height} pixels" + (
            f" (the image has {columns} x {rows})"
            if (columns, rows) != (preview.width, preview.height) and columns else "")
        body.append(f'<p class="meta">Instance {e(number)}{frame}. {size}. '
                    f"{e(r.window[:1].upper() + r.window[1:])}.</p>")
    else:
        body.append(f'<p class="missing">Instance {e(number)}: no preview of this image: '
                    f"{e(r.problem)}. Open its DICOM file with a DICOM viewer.</p>")
    body += [f'<p class="meta">{e(KEYS)}</p>',
             f'<p class="meta">A preview, not for diagnosis: the original is the DICOM file '
             f"{e(placed[item.sop_uid].dest)}.</p>"]
    return page(heading, body, css="../../STYLE.CSS")
