"""The embedded demo archive: a Query/Retrieve SCP over the sample studies.

`DemoArchive` is a plain service (start()/stop(), no Textual) built on pynetdicom:
Verification, Study Root and Patient Root C-FIND, C-MOVE and C-GET at every level,
C-CANCEL honoured. C-MOVE sends only to destinations it knows (given at construction or
with `set_destination`); an unknown AE title gets 0xA801, exactly like a real PACS. The
C-STORE sub-operations send each file's bytes as they are on disk (pynetdicom's
chunked file sending); only when the receiver accepted none of the file's transfer
syntax is the file decoded, decompressed if needed, and sent in a syntax it accepts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    _config,
    build_context,
    evt,
)
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer

from mw_tui import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from mw_tui.config import Archive, Config
from mw_tui.demo import catalog as catalog_mod
from mw_tui.demo import samples
from mw_tui.demo.catalog import Catalog, Instance
from mw_tui.demo.query import QueryError, response, retrieve_set, search
from mw_tui.standard import sop, status

log = logging.getLogger(__name__)

DEFAULT_AE_TITLE = "MW_DEMO"
NOT_AUTHORIZED = 0x0124  # C-STORE refused: the demo archive is read-only
_PATIENT_ROOT = frozenset({
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet,
})
_MAX_CONTEXTS = 128


class DemoArchiveError(Exception):
    """The demo archive cannot start; the message says why and what to do."""


# -- what the archive reports (plain values, called from server threads) ----------------


@dataclass(frozen=True, slots=True)
class QueryReceived:
    calling_ae: str
    level: str
    matches: int


@dataclass(frozen=True, slots=True)
class RetrieveStarted:
    calling_ae: str
    kind: str  # "move" or "get"
    destination: str  # the move destination AE title ("" for C-GET)
    instances: int


@dataclass(frozen=True, slots=True)
class RetrieveEnded:
    calling_ae: str
    kind: str
    destination: str
    sent: int
    failed: int
    cancelled: bool


@dataclass(frozen=True, slots=True)
class RequestRefused:
    calling_ae: str
    request: str  # "find", "move", "get"
    status: int
    reason: str


ArchiveEvent = QueryReceived | RetrieveStarted | RetrieveEnded | RequestRefused


# -- sending files as they are -----------------------------------------------------------


class StoredFile(Dataset):
    """What the retrieve handlers yield: a file to send (pynetdicom wants a Dataset)."""

    def __init__(self, instance: Instance) -> None:
        super().__init__()
        self.SOPInstanceUID = instance.sop_uid  # for pynetdicom's failed-instance list
        self.mw_instance = instance


class _Tally:
    """Sub-operation outcomes of one retrieve, as the C-STORE responses said."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0


def _send_files_as_they_are(assoc: Association, tally: _Tally) -> None:
    """Make `assoc.send_c_store` send a `StoredFile` from its file's bytes (counted in
    `tally`); anything else goes to pynetdicom's own method unchanged."""
    if getattr(assoc, "mw_send_original", None) is None:
        original = assoc.send_c_store
        setattr(assoc, "mw_send_original", original)  # noqa: B010
        setattr(assoc, "send_c_store", functools.partial(_send, assoc))  # noqa: B010
    setattr(assoc, "mw_tally", tally)  # noqa: B010


def _send(assoc: Association, dataset: Any, msg_id: int = 1, priority: int = 2,
          originator_aet: str | None = None, originator_id: int | None = None) -> Dataset:
    original: Callable[..., Dataset] = getattr(assoc, "mw_send_original")  # noqa: B009
    if not isinstance(dataset, StoredFile):
        return original(dataset, msg_id, priority, originator_aet, originator_id)
    tally: _Tally = getattr(assoc, "mw_tally")  # noqa: B009
    inst = dataset.mw_instance
    try:
        try:
            result = original(inst.path, msg_id, priority, originator_aet, originator_id)
        except ValueError:  # no accepted context for the file's own transfer syntax
            result = original(_converted(inst), msg_id, priority, originator_aet,
                              originator_id)
    except Exception:
        tally.failed += 1
        raise
    if "Status" in result and not status.is_failure(int(result.Status)):
        tally.sent += 1
    else:
        tally.failed += 1
    return result


def _converted(inst: Instance) -> Dataset:
    """The instance decoded (and decompressed) for a receiver that refused its syntax."""
    ds = dcmread(inst.path)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    return ds


def _no_delay(assoc: Association) -> None:
    """TCP_NODELAY: without it every C-STORE waits ~40 ms for a delayed ACK."""
    sock = getattr(assoc.dul.socket, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ArchiveAE(AE):
    """An AE whose outgoing associations (C-MOVE sub-operations) send files as they are."""

    def associate(self, *args: Any, **kwargs: Any) -> Association:
        tally = kwargs.pop("mw_tally", None) or _Tally()
        assoc = super().associate(*args, **kwargs)
        _no_delay(assoc)
        _send_files_as_they_are(assoc, tally)
        return assoc


def _storage_contexts(instances: list[Instance]) -> list[PresentationContext]:
    """Contexts for sending `instances`: each file's own syntax, plus uncompressed ones."""
    pairs: dict[str, list[str]] = {}
    for inst in instances:
        pairs.setdefault(inst.sop_class, [])
        if inst.transfer_syntax not in pairs[inst.sop_class]:
            pairs[inst.sop_class].append(inst.transfer_syntax)
    contexts = []
    for sop_class, syntaxes in pairs.items():
        for ts in syntaxes:
            contexts.append(build_context(sop_class, [ts]))
    for sop_class in pairs:
        if len(contexts) >= _MAX_CONTEXTS:
            break
        contexts.append(build_context(sop_class, [sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE]))
    return contexts[:_MAX_CONTEXTS]


# -- the service -------------------------------------------------------------------------


class DemoArchive:
    """A Query/Retrieve SCP serving the DICOM files of `data_dir` on loopback.

    `samples` (a Profile) generates the sample studies into `data_dir` at first start;
    None serves the folder as it is. `port=0` picks a free port (see `.port` after start).
    `on_event` is called from server threads with `ArchiveEvent`s; it must return quickly.
    """

    def __init__(self, data_dir: Path | None = None, *, ae_title: str = DEFAULT_AE_TITLE,
                 port: int = 0, bind: str = "127.0.0.1",
                 destinations: Mapping[str, tuple[str, int]] | None = None,
                 samples_profile: samples.Profile | None = samples.Profile.FULL,
                 on_event: Callable[[ArchiveEvent], None] | None = None) -> None:
        self.data_dir = data_dir or samples.default_data_dir()
        self.ae_title = ae_title
        self.bind = bind
        self.port = port
        self.samples_profile = samples_profile
        self._on_event = on_event
        self._destinations: dict[str, tuple[str, int]] = dict(destinations or {})
        self._lock = threading.Lock()
        self._server: ThreadedAssociationServer | None = None
        self.catalog: Catalog | None = None
        self.load_report: catalog_mod.LoadReport | None = None
        self.sample_set: samples.SampleSet | None = None

    # -- lifecycle

    def start(self) -> None:
        try:
            if self.samples_profile is not None:
                self.sample_set = samples.ensure_samples(self.data_dir, self.samples_profile)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.catalog, self.load_report = catalog_mod.load(self.data_dir)
        except OSError as exc:
            raise DemoArchiveError(f"cannot prepare the demo data in {self.data_dir}: "
                                   f"{exc.strerror or exc}; choose another folder with "
                                   "--data or $MW_TUI_DEMO_DATA") from exc
        # Files are sent as they are on disk (only affects send_c_store given a path).
        _config.STORE_SEND_CHUNKED_DATASET = True
        ae = self._build_ae(self.catalog)
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, lambda event: status.SUCCESS),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_MOVE, self._on_move),
            (evt.EVT_C_GET, self._on_get),
            (evt.EVT_C_STORE, lambda event: NOT_AUTHORIZED),
            (evt.EVT_CONN_OPEN, lambda event: _no_delay(event.assoc)),
        ]
        try:
            server = ae.start_server((self.bind, self.port), block=False,
                                     evt_handlers=handlers)
        except OSError as exc:
            raise DemoArchiveError(f"the demo archive cannot listen on {self.bind}:{self.port}"
                                   f" ({exc.strerror or exc}); choose another port with "
                                   "--port (0 = any free port)") from exc
        assert server is not None
        self._server = server
        self.port = int(server.server_address[1])
        log.info("demo archive %s on %s:%d: %d studies, %d instances (%s)", self.ae_title,
                 self.bind, self.port, len(self.catalog.studies), len(self.catalog.instances),
                 self.data_dir)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    def __enter__(self) -> DemoArchive:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def host(self) -> str:
        return "127.0.0.1" if self.bind in ("", "0.0.0.0") else self.bind

    def _build_ae(self, cat: Catalog) -> _ArchiveAE:
        ae = _ArchiveAE(self.ae_title)
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ae.maximum_associations = 20
        ae.maximum_pdu_size = 524288
        ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
        for uid in (StudyRootQueryRetrieveInformationModelFind,
                    StudyRootQueryRetrieveInformationModelMove,
                    StudyRootQueryRetrieveInformationModelGet, *_PATIENT_ROOT):
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        # C-GET: the requester proposes storage contexts in which it is the SCP.
        # pynetdicom accepts the first of these the requester proposed: Explicit VR LE first
        # (the files' own syntax for the generated ones), then the other built-in ones.
        syntaxes = list(dict.fromkeys([*sop.STORAGE_TRANSFER_SYNTAXES, *ALL_TRANSFER_SYNTAXES,
                                       *sorted(cat.transfer_syntaxes())]))
        classes = dict.fromkeys([*(str(c.abstract_syntax) for c in AllStoragePresentationContexts),
                                 *sop.STORAGE_SOP_CLASSES, *sorted(cat.sop_classes())])
        for uid in classes:
            ae.add_supported_context(uid, syntaxes, scp_role=True, scu_role=False)
        return ae

    # -- destinations

    def set_destination(self, ae_title: str, host: str, port: int) -> None:
        """Know (or move) the C-MOVE destination `ae_title`."""
        with self._lock:
            self._destinations[ae_title.strip()] = (host, port)

    def remove_destination(self, ae_title: str) -> None:
        with self._lock:
            self._destinations.pop(ae_title.strip(), None)

    def destinations(self) -> dict[str, tuple[str, int]]:
        with self._lock:
            return dict(self._destinations)

    # -- handlers (server threads)

    def _emit(self, event: ArchiveEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("demo archive event listener failed")

    @staticmethod
    def _caller(event: Any) -> str:
        return str(event.assoc.requestor.ae_title).strip()

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        cat = self.catalog
        assert cat is not None
        patient_root = event.context.abstract_syntax in _PATIENT_ROOT
        identifier = event.identifier
        try:
            found = search(cat, identifier, patient_root)
        except QueryError as exc:
            self._emit(RequestRefused(self._caller(event), "find", exc.status, str(exc)))
            yield exc.status, None
            return
        level = str(identifier.QueryRetrieveLevel).strip().upper()
        self._emit(QueryReceived(self._caller(event), level, len(found)))
        for m in found:
            if event.is_cancelled:
                yield status.CANCEL, None
                return
            yield status.PENDING, response(identifier, m, level, self.ae_title)
        yield status.SUCCESS, None

    def _retrieve(self, event: Any, kind: str) -> list[Instance] | QueryError:
        cat = self.catalog
        assert cat is not None
        try:
            return retrieve_set(cat, event.identifier,
                                event.context.abstract_syntax in _PATIENT_ROOT)
        except QueryError as exc:
            self._emit(RequestRefused(self._caller(event), kind, exc.status, str(exc)))
            return exc

    def _sub_operations(self, event: Any, kind: str, destination: str,
                        instances: list[Instance],
                        tally: _Tally) -> Iterator[tuple[int, Dataset | None]]:
        caller = self._caller(event)
        self._emit(RetrieveStarted(caller, kind, destination, len(instances)))
        for inst in instances:
            if event.is_cancelled:
                # pynetdicom answers Cancel and never resumes this generator: report first
                self._emit(RetrieveEnded(caller, kind, destination, tally.sent, tally.failed,
                                         True))
                yield status.CANCEL, None
                return
            yield status.PENDING, StoredFile(inst)
        self._emit(RetrieveEnded(caller, kind, destination, tally.sent, tally.failed, False))

    def _on_move(self, event: Any) -> Iterator[Any]:
        caller = self._caller(event)
        destination = str(event.move_destination or "").strip()
        known = self.destinations().get(destination)
        if known is None:
            reason = (f"move destination {destination!r} unknown to the demo archive "
                      f"(known: {', '.join(self.destinations()) or 'none'})")
            log.warning("%s (requested by %s)", reason, caller)
            self._emit(RequestRefused(caller, "move", status.MOVE_DESTINATION_UNKNOWN, reason))
            yield None, None
            return
        found = self._retrieve(event, "move")
        tally = _Tally()
        contexts = (_storage_contexts(found) if isinstance(found, list)
                    else [build_context(Verification)])
        yield known[0], known[1], {"contexts": contexts, "mw_tally": tally}
        if isinstance(found, QueryError):
            yield 1
            yield found.status, None
            return
        yield len(found)
        yield from self._sub_operations(event, "move", destination, found, tally)

    def _on_get(self, event: Any) -> Iterator[Any]:
        found = self._retrieve(event, "get")
        if isinstance(found, QueryError):
            yield 1
            yield found.status, None
            return
        tally = _Tally()
        _send_files_as_they_are(event.assoc, tally)
        yield len(found)
        yield from self._sub_operations(event, "get", "", found, tally)


# -- wiring the demo archive into a configuration -----------------------------------------


def with_demo_archive(config: Config, archive: DemoArchive, name: str = "demo",
                      retrieve: str = "move", station_port: int | None = None) -> Config:
    """`config` with the running demo `archive` added to its archives (as `name`), and
    the archive told where the station receives (its AE title, loopback, `station_port`
    or the configured port) so that C-MOVE to the station works."""
    station = config.station
    host = "127.0.0.1" if station.bind in ("", "0.0.0.0", "::") else station.bind
    archive.set_destination(station.ae_title, host, station_port or station.port)
    taken = {a.name for a in config.archives}
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}-{n}", n + 1
    entry = Archive(name=unique, ae_title=archive.ae_title, host=archive.host,
                    port=archive.port, retrieve=retrieve)
    return dataclasses.replace(config, archives=(*config.archives, entry))

