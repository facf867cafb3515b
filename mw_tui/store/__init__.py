"""The study store: received instances on disk and their SQLite index."""

from mw_tui.store.index import Index, StudyRow
from mw_tui.store.ingest import Incoming, OutOfSpace, Refusal, Refused, Store, StoredInstance

__all__ = ["Incoming", "Index", "OutOfSpace", "Refusal", "Refused", "Store", "StoredInstance",
           "StudyRow"]
