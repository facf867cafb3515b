"""Who may associate with the station and with what: the acceptor's settings from the
configuration (callers allowed, presentation contexts, the archives whose C-STOREs answer
our own C-MOVE), and a TLS failure in words."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass

from pynetdicom.presentation import PresentationContext, build_context

from mw_tui.config import Config
from mw_tui.standard import sop


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

    @classmethod
    def from_config(cls, config: Config) -> AcceptorSettings:
        aes, nets = set(), []
        for entry in config.dicom.allowed_callers:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                aes.add(entry.strip())
        extras = [u for u in config.dicom.extra_sop_classes if u not in sop.STORAGE_SOP_CLASSES]
        ts_extra = [u for u in config.dicom.extra_transfer_syntaxes
                    if u not in sop.STORAGE_TRANSFER_SYNTAXES]
        return cls(
            ae_title=config.station.ae_title,
            max_pdu=config.station.max_pdu,
            timeout=config.dicom.server_timeout,
            artim=config.dicom.artim_timeout,
            allowed_aes=frozenset(aes),
            allowed_networks=tuple(nets),
            sop_classes=(*sop.STORAGE_SOP_CLASSES, *extras),
            transfer_syntaxes=(*sop.STORAGE_TRANSFER_SYNTAXES, *ts_extra),
            archive_aes=frozenset(a.ae_title.strip() for a in config.archives),
        )

    def own_retrieve(self, calling_ae: str, move_originator: str) -> bool:
        """Whether a C-STORE is a sub-operation of this station's own C-MOVE: an archive
        we asked sends what it still holds (so it may be acknowledged before its fsync)."""
        return (bool(move_originator) and move_originator == self.ae_title.strip()
                and calling_ae.strip() in self.archive_aes)

    def contexts(self) -> list[PresentationContext]:
        """What the station accepts, transfer syntaxes in order of preference."""
        out = [build_context(sop.VERIFICATION, [sop.EXPLICIT_VR_LE, sop.IMPLICIT_VR_LE,
                                                 sop.EXPLICIT_VR_BE])]
        out += [build_context(uid, list(self.transfer_syntaxes)) for uid in self.sop_classes]
        return out

    def caller_allowed(self, calling_ae: str, ip: str) -> bool:
        if not self.allowed_aes and not self.allowed_networks:
            return True
        if calling_ae.strip() in self.allowed_aes:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allowed_networks)


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
