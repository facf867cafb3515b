"""Who may associate with the station and with what: the acceptor's settings from the
configuration (callers allowed, presentation contexts, the archives whose C-STOREs answer
our own C-MOVE, who may ask for media), the A-ASSOCIATE-AC, and a TLS failure in words."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from pynetdicom.pdu import A_ASSOCIATE_AC
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    AsynchronousOperationsWindowNegotiation,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext, build_context, negotiate_as_acceptor

from mw_tui import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from mw_tui.config import Config
from mw_tui.standard import sop

log = logging.getLogger("mw_tui.dicom.acceptor")

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _callers(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """AE titles and IP networks of an allow-list."""
    aes, nets = set(), []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            aes.add(entry.strip())
    return frozenset(aes), tuple(nets)


def _matches(aes: frozenset[str], nets: tuple[Network, ...], calling_ae: str, ip: str) -> bool:
    if calling_ae.strip() in aes:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in nets)


@dataclass(frozen=True)
class AcceptorSettings:
    ae_title: str
    max_pdu: int
    timeout: float
    artim: float
    allowed_aes: frozenset[str]
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    sop_classes: tuple[str, ...]
    transfer_syntaxes: tuple[str, ...]
    archive_aes: frozenset[str] = frozenset()  # the configured archives' AE titles
    media_callers: tuple[frozenset[str], tuple[Network, ...]] | None = None  # None: nobody
    media_any: bool = False  # [mcm] allowed_callers holds "*"

    @classmethod
    def from_config(cls, config: Config) -> AcceptorSettings:
        aes, nets = _callers(config.dicom.allowed_callers)
        media = [c for c in config.mcm.allowed_callers if c != "*"]
        extras = [u for u in config.dicom.extra_sop_classes if u not in sop.STORAGE_SOP_CLASSES]
        ts_extra = [u for u in config.dicom.extra_transfer_syntaxes
                    if u not in sop.STORAGE_TRANSFER_SYNTAXES]
        return cls(
            ae_title=config.station.ae_title,
            max_pdu=config.station.max_pdu,
            timeout=config.dicom.server_timeout,
            artim=config.dicom.artim_timeout,
            allowed_aes=aes,
            allowed_networks=nets,
            sop_classes=(*sop.STORAGE_SOP_CLASSES, *extras),
            transfer_syntaxes=(*sop.STORAGE_TRANSFER_SYNTAXES, *ts_extra),
            archive_aes=frozenset(a.ae_title.strip() for a in config.archives),
            media_callers=_callers(media) if config.mcm.enabled else None,
            media_any=config.mcm.enabled and "*" in config.mcm.allowed_callers,
        )

    def own_retrieve(self, calling_ae: str, move_originator: str) -> bool:
        """Whether a C-STORE is a sub-operation of this station's own C-MOVE: an archive
        we asked sends what it still holds (so it may be acknowledged before its fsync)."""
        return (bool(move_originator) and move_originator == self.ae_title.strip()
                and calling_ae.strip() in self.archive_aes)

    def contexts(self, media: bool = False) -> list[PresentationContext]:
        """What the station accepts, transfer syntaxes in order of preference; `media`:
        Media Creation Management too."""
        out = [build_context(sop.VERIFICATION, [sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE,
                                                 sop.EXPLICIT_VR_BE])]
        out += [build_context(uid, list(self.transfer_syntaxes)) for uid in self.sop_classes]
        if media:
            out.append(build_context(sop.MEDIA_CREATION_MANAGEMENT,
                                     [sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE]))
        return out

    def caller_allowed(self, calling_ae: str, ip: str) -> bool:
        if not self.allowed_aes and not self.allowed_networks:
            return True
        return _matches(self.allowed_aes, self.allowed_networks, calling_ae, ip)

    def media_allowed(self, calling_ae: str, ip: str) -> bool:
        """Whether the caller may ask for media ([mcm] enabled and allowed_callers)."""
        if self.media_callers is None:
            return False
        return self.media_any or _matches(*self.media_callers, calling_ae, ip)


def accept(request: A_ASSOCIATE, contexts: list[PresentationContext], max_pdu: int,
           calling_ae: str, media_refused: str = "not accepted (mcm.enabled, "
           "mcm.allowed_callers)") -> tuple[bytes, list[PresentationContext]]:
    """The A-ASSOCIATE-AC for `request` offering `contexts`, and the negotiated contexts.
    Media Creation Management proposed but not offered is logged with `media_refused`
    (why: who may ask is [mcm]'s, or the service did not start)."""
    roles = {}
    wants_async = False
    for item in request.user_information:
        if isinstance(item, SCP_SCU_RoleSelectionNegotiation) and item.sop_class_uid:
            roles[item.sop_class_uid] = (item.scu_role, item.scp_role)
        elif isinstance(item, AsynchronousOperationsWindowNegotiation):
            wants_async = True
    proposed = request.presentation_context_definition_list
    results, role_replies = negotiate_as_acceptor(proposed, contexts, roles)
    offered = {str(c.abstract_syntax) for c in contexts}
    if sop.MEDIA_CREATION_MANAGEMENT not in offered and any(
            str(c.abstract_syntax) == sop.MEDIA_CREATION_MANAGEMENT for c in proposed):
        log.warning("%r asked for Media Creation Management: %s", calling_ae, media_refused)
    reply = A_ASSOCIATE()
    reply.application_context_name = APPLICATION_CONTEXT
    reply.calling_ae_title = request.calling_ae_title
    reply.called_ae_title = request.called_ae_title
    reply.result = 0x00
    reply.result_source = 0x01
    reply.presentation_context_definition_results_list = results
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = max_pdu
    impl = ImplementationClassUIDNotification()
    impl.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    info: list = [max_length, impl, version, *role_replies]
    if wants_async:
        window = AsynchronousOperationsWindowNegotiation()
        window.maximum_number_operations_invoked = 1
        window.maximum_number_operations_performed = 1
        info.append(window)
    reply.user_information = info
    pdu = A_ASSOCIATE_AC()
    pdu.from_primitive(reply)
    return pdu.encode(), results


_TLS_HINTS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client sent no certificate, and "
                                         "tls.verify_clients is \"required\"",
    "CERTIFICATE_VERIFY_FAILED": "the client's certificate is not signed by an authority "
                                 "in tls.ca, or has expired",
    "NO_SHARED_CIPHER": "the client offers none of the BCP 195 cipher suites",
    "UNSUPPORTED_PROTOCOL": "the client offers only TLS versions older than 1.2",
    "WRONG_VERSION_NUMBER": "the client does not speak TLS: plain DICOM sent to the TLS port?",
    "HTTP_REQUEST": "that is a web browser, not a DICOM client",
}


def tls_hint(exc: ssl.SSLError) -> str:
    hint = _TLS_HINTS.get(str(exc.reason or ""))
    return f" ({hint})" if hint else ""
