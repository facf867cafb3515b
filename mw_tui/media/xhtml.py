"""The pieces of the medium's web pages: XHTML 1.0 Strict pages, tables, links, the style.

No scripts, no plug-ins: IHE PDI web content that any browser shows from the medium.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

STYLE = """body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; }
th { background: #eee; }
.meta { color: #555; }
.name { font-weight: bold; }
.nested { margin-left: 2em; }
.note { background: #fff6d5; border: 1px solid #e0c060; padding: 0.4em 0.8em; }
.grid { margin: 1em 0; }
.cell { display: inline-block; vertical-align: top; width: 172px; margin: 0 6px 10px 0;
        text-align: center; font-size: small; }
.cell img { border: 1px solid #888; background: #000; }
.missing { color: #a00; }
.nav a, .nav span { margin-right: 1.5em; }
.view { background: #000; padding: 8px; display: inline-block; }
.view img { display: block; max-width: 100%; height: auto; }
"""


def page(title: str, body: list[str], css: str = "STYLE.CSS") -> bytes:
    """A complete XHTML page; `body` lines are already escaped XHTML."""
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
        "<head>",
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />',
        f"<title>{html.escape(title)}</title>",
        f'<link rel="stylesheet" type="text/css" href="{css}" />',
        "</head>",
        "<body>",
    ]
    return "\n".join([*head, *body, "</body>", "</html>", ""]).encode("utf-8")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table; cells are already escaped XHTML."""
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    out.append("</table>")
    return out


def link(href: str, text: str, key: str = "") -> str:
    """A link; `key` makes it an access key (Alt+key in most browsers)."""
    access = f' accesskey="{html.escape(key)}"' if key else ""
    return f'<a href="{html.escape(href)}"{access}>{html.escape(text or "-")}</a>'


def img(src: str, width: int, height: int, alt: str) -> str:
    return (f'<img src="{html.escape(src)}" width="{width}" height="{height}" '
            f'alt="{html.escape(alt)}" />')
