"""Messages for the technician: what went wrong with an archive, and what to do about it.

Every text names the archive as configured (name, AE title, host and port) so the person
reading it can act without looking anything up. Used by the screens and the CLI alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mw_tui.standard import status


@dataclass(frozen=True, slots=True)
class Peer:
    """An archive as the network code sees it."""

    name: str
    ae_title: str
    host: str
    port: int
    tls: Any = None  # (ssl.SSLContext, server host name) when the archive talks DICOM TLS

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title} at {self.host}:{self.port})"


# A-ASSOCIATE-RJ (PS3.8 9.3.4): (source, reason) -> what it means
_REJECT_REASONS = {
    (1, 1): "no reason given",
    (1, 2): "application context name not supported",
    (1, 3): "calling AE title not recognized",
    (1, 7): "called AE title not recognized",
    (2, 1): "no reason given (ACSE)",
    (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion",
    (3, 2): "local limit exceeded (too many associations)",
}
_REJECT_SOURCES = {1: "the archive's DICOM service", 2: "the archive's DICOM protocol layer",
                   3: "the archive's network layer"}
# A-ABORT reasons from the service provider (PS3.8 9.3.8)
_ABORT_REASONS = {0: "reason not specified", 1: "unrecognized PDU", 2: "unexpected PDU",
                  4: "unrecognized PDU parameter", 5: "unexpected PDU parameter",
                  6: "invalid PDU parameter value"}


def reject_reason(source: int, reason: int) -> str:
    return _REJECT_REASONS.get((source, reason), f"reason {reason} (source {source})")


def rejected(peer: Peer, calling_ae: str, result: int, source: int, reason: int) -> str:
    why = reject_reason(source, reason)
    text = (f"{peer} rejected the connection ({why}; calling AE title {calling_ae}, called AE "
            f"title {peer.ae_title}; rejected by {_REJECT_SOURCES.get(source, 'the archive')}"
            f"{', permanently' if result == 1 else ', for now'}). ")
    if (source, reason) == (1, 3):
        text += (f"Register this station's AE title {calling_ae} on the archive, or correct "
                 "station.ae_title.")
    elif (source, reason) == (1, 7):
        text += (f"The archive does not answer to AE title {peer.ae_title}: correct ae_title "
                 f"of the archive {peer.name!r} in the configuration.")
    elif source == 3 or result == 2:
        text += "The archive is busy: try again in a moment."
    else:
        text += ("Check the AE titles on both sides (the archive may only accept stations it "
                 "knows).")
    return text


def refused(peer: Peer) -> str:
    return (f"{peer} refused the connection: nothing listens on port {peer.port} there. Check "
            "that the archive is running and that host and port in the configuration are "
            "right.")


def unreachable(peer: Peer, reason: str) -> str:
    return (f"Cannot reach {peer}: {reason}. Check the host name or IP address in the "
            "configuration and the network cable or connection.")


def timed_out(peer: Peer, seconds: float, doing: str) -> str:
    return (f"{peer} did not answer within {seconds:g} s while {doing}. The archive may be "
            "down or overloaded, or a firewall drops the connection. Try again; if it is "
            "only slow, raise its timeout in the configuration.")


def aborted(peer: Peer, source: int, reason: int) -> str:
    who = "the archive" if source == 0 else "the archive's DICOM protocol layer"
    return (f"{peer} broke off the connection ({who}: "
            f"{_ABORT_REASONS.get(reason, f'reason {reason}')}). Try again; if it keeps "
            "happening, the archive's log says why.")


def closed(peer: Peer) -> str:
    return (f"{peer} closed the connection unexpectedly. Try again; if it keeps happening, "
            "the archive's log says why.")


def tls_refused(peer: Peer, detail: str) -> str:
    return (f"{peer} ended the DICOM TLS session before answering ({detail}): it did not "
            "accept this station's certificate, or wants one and none is configured. Check "
            "[tls] certificate, key and ca here, and that the archive trusts the authority "
            "that signed this station's certificate.")


def protocol_error(peer: Peer, detail: str) -> str:
    return f"{peer} sent something this station cannot understand ({detail})."


def not_supported(peer: Peer, service: str) -> str:
    return (f"{peer} does not offer {service} to this station. Check the archive's "
            "configuration (it may restrict which stations may query or retrieve).")


def failed_status(peer: Peer, operation: str, code: int, comment: str = "") -> str:
    text = f"{peer} answered the {operation} with an error: {status.describe(code)} (0x{code:04X})"
    if comment:
        text += f": {comment}"
    return text + "."


def move_destination_unknown(peer: Peer, station_ae: str, station_ip: str,
                             station_port: int) -> str:
    return (f"The archive {peer} does not know this station, so it cannot send the images "
            "here. Ask the archive's administrator to add this station as a DICOM "
            f"destination: AE title {station_ae}, IP address {station_ip}, port {station_port}. "
            f"Or set retrieve = \"get\" for the archive {peer.name!r} in the configuration, "
            "if the archive supports C-GET.")


def move_probably_unknown(peer: Peer, code: int, station_ae: str, station_ip: str,
                          station_port: int) -> str:
    return (f"The archive {peer} refused to send the study (status 0x{code:04X}, "
            f"{status.describe(code)}) although it holds it. Most often this means it does not "
            "know this station as a destination: ask the archive's administrator to add "
            f"AE title {station_ae}, IP address {station_ip}, port {station_port}, or set "
            f"retrieve = \"get\" for the archive {peer.name!r} in the configuration, if the "
            "archive supports C-GET. Less often the study holds images this station does not "
            "accept; the archive's log says which.")


def none_sent(peer: Peer, what: str, failed: int, code: int, comment: str) -> str:
    return (f"{peer} sent none of the images of {what}: it reported {failed} it could not "
            f"send (status 0x{code:04X}, {status.describe(code)}"
            f"{': ' + comment if comment else ''}). "
            "The study may hold images this station does not accept (a SOP class or "
            "transfer syntax missing from the configuration); the archive's log says which.")


def not_on_archive(peer: Peer, what: str) -> str:
    return f"{peer} has no {what}: it may have been deleted or moved to another archive."


def partial(peer: Peer, what: str, arrived: int, expected: int, failed: int) -> str:
    text = f"Only {arrived} of {expected} images of {what} arrived from {peer}"
    if failed:
        text += f"; the archive reported {failed} it could not send"
    return text + (". Retrieve it again; if images keep missing, this station's log (an image "
                   "it could not write) or the archive's log says why.")


def missing_in_store(peer: Peer, what: str, arrived: int, reported: int, storage: str) -> str:
    return (f"{peer} reported {reported} images of {what} sent, but the store at {storage} "
            f"holds {arrived}. Is another DICOM station listening on this station's port with "
            "a different storage folder? Check the receiver's log.")


def unknown_archive(name: str, known: list[str]) -> str:
    if known:
        return (f"There is no archive named {name!r} in the configuration; configured archives: "
                f"{', '.join(known)}.")
    return (f"There is no archive named {name!r}: no archive is configured. Add an "
            "[[archives]] table (name, ae_title, host, port) to the configuration file.")


def no_archives() -> str:
    return ("No archive is configured. Add an [[archives]] table (name, ae_title, host, port) "
            "to the configuration file, or start with --demo.")
