"""The store's housekeeping: made consistent after a crash before anything is received,
and expired studies purged (`[retention] days`) while the station runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mw_tui.config import Config
from mw_tui.store import Store
from mw_tui.store.check import recover
from mw_tui.store.retention import RetentionService


class StoreUnusable(Exception):
    """The storage folder cannot be used; the message says why."""


class Housekeeping:
    def __init__(self, config: Config, in_use: Callable[[], Iterable[str]] | None = None
                 ) -> None:
        """`in_use`: the study UIDs unfinished jobs need (retention keeps them)."""
        self.config = config
        self.retention = RetentionService(config, in_use=in_use)

    def recover(self) -> None:
        """Index and files made to agree after a crash, the trash emptied."""
        from mw_tui.dicom.scp import ReceiverError

        s = self.config.station
        try:
            store = Store(self.config.storage, s.min_free_mb)
        except OSError as exc:
            raise ReceiverError(f"cannot use the storage folder {s.storage}: "
                                f"{exc.strerror or exc}") from exc
        try:
            recover(store)
            store.empty_trash()
        finally:
            store.close()

    def start(self) -> None:
        self.retention.start()

    def stop(self) -> None:
        self.retention.stop()
