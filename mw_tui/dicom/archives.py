"""The configured archives, as the Query/Retrieve code addresses them."""

from __future__ import annotations

from collections.abc import Iterable

from mw_tui.config import Archive, Config
from mw_tui.dicom import messages
from mw_tui.dicom.messages import Peer


class UnknownArchive(KeyError):
    """No archive of that name is configured; `str()` is the message for the technician."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.message = messages.unknown_archive(name, known)

    def __str__(self) -> str:
        return self.message


def peer_of(archive: Archive, config: Config | None = None) -> Peer:
    """The archive as the network code sees it (with its TLS context when `tls` is on)."""
    tls = None
    if config is not None and getattr(archive, "tls", False):
        from mw_tui.dicom.tls import tls_args

        tls = tls_args(config, archive)
    return Peer(archive.name, archive.ae_title, archive.host, archive.port, tls)


def resolve(config: Config, names: Iterable[str | Archive] | None = None) -> list[Archive]:
    """The archives named (all configured ones when `names` is None), in the order given.

    Raises UnknownArchive for a name that is not configured.
    """
    if names is None:
        return list(config.archives)
    out: list[Archive] = []
    for n in names:
        if isinstance(n, Archive):
            archive = n
        else:
            found = [a for a in config.archives if a.name == n]
            if not found:
                raise UnknownArchive(n, [a.name for a in config.archives])
            archive = found[0]
        if archive not in out:
            out.append(archive)
    return out


def resolve_one(config: Config, name: str | Archive) -> Archive:
    return resolve(config, [name])[0]
