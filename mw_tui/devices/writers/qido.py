"""Which instances of a study a DICOMweb archive lists (QIDO-RS), asked so that a server
that ignores `offset` can neither keep the asker in an endless loop nor hide instances.

The study's instances come in pages of `PAGE` (limit and offset) until every instance
looked for is seen, or a page is empty (the end of the list), or a page brings nothing new.
A server may cap its pages below `limit`, so a short page is not the end. A page that
brings nothing new means the server gave the same instances again: it ignored the offset.
Then the instances still not seen are asked for one by one, by SOP Instance UID.
The STOW-RS writer's check and an import's final count both ask this way.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

SOP_INSTANCE_UID = "00080018"
PAGE = 1000  # instances asked for per request


def listed(session: Any, base_url: str, study: str, wanted: Collection[str],
           timeout: float) -> set[str]:
    """The SOP Instance UIDs of `study` the archive at `base_url` lists, looked for until
    every one of `wanted` is seen or the archive has nothing more to list. `session` is
    a requests session. Raises requests' exceptions (HTTPError for an answer that is
    not 2xx), ValueError for one that is not DICOM JSON."""
    url = base_url.rstrip("/") + "/instances"
    found: set[str] = set()
    offset = 0
    repeated = False
    while not set(wanted) <= found:
        page = _ask(session, url, timeout, {"StudyInstanceUID": study, "limit": str(PAGE),
                                            "offset": str(offset)})
        new = set(page) - found
        found |= new
        if not page:
            break  # the end of the list
        if not new:
            repeated = True  # the same page again: the offset was ignored
            break
        offset += len(page)  # (a page shorter than asked may be the server's cap)
    if repeated:
        for uid in sorted(set(wanted) - found):
            found |= set(_ask(session, url, timeout, {"StudyInstanceUID": study,
                                                      "SOPInstanceUID": uid}))
    return found


def _ask(session: Any, url: str, timeout: float, params: dict[str, str]) -> list[str]:
    rsp = session.get(url, params={**params, "includefield": SOP_INSTANCE_UID},
                      headers={"Accept": "application/dicom+json"}, timeout=timeout)
    if rsp.status_code == 204:
        return []
    rsp.raise_for_status()
    try:
        items = rsp.json()
        if isinstance(items, dict):  # some servers send a single data set, not an array
            items = [items]
        return [str(v) for item in items
                for v in item.get(SOP_INSTANCE_UID, {}).get("Value", [])]
    except (AttributeError, TypeError) as exc:
        raise ValueError(f"not DICOM JSON ({exc})") from exc
