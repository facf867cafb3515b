"""DICOM TLS (PS3.15 Annex B, the BCP 195 profiles): SSL contexts from the configuration.

The receiver's TLS listener uses `server_context()`; Query/Retrieve and other SCUs use
`client_context()` (or `tls_args()` for pynetdicom's `associate(..., tls_args=...)`).
Both allow TLS 1.2 and 1.3 only, and on TLS 1.2 only the cipher suites of the
Non-Downgrading BCP 195 profile (ECDHE/DHE with AES-GCM; TLS 1.3 suites are all AEAD).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from mw_tui.config import Archive, Config, TlsConfig

# TLS 1.2 suites of the BCP 195 profiles (RFC 7525 / RFC 9325, PS3.15 B.9, B.11), in
# OpenSSL's names and in our order of preference
BCP195_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-AES128-GCM-SHA256",
))
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

# The RFC 7919 ffdhe2048 group (a published constant), so the DHE suites work too
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""

_VERIFY = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL,
           "none": ssl.CERT_NONE}


class TlsError(Exception):
    """TLS cannot be set up from the configuration; the message says what to fix."""


def _readable(path: str, key: str) -> str:
    if not path:
        raise TlsError(f"tls.{key} is not set")
    p = Path(path)
    if not p.is_file():
        raise TlsError(f"tls.{key} = {path!r}: no such file")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise TlsError(f"tls.{key} = {path!r}: cannot read it ({exc.strerror})") from exc
    return str(p)


def _base(purpose: ssl.Purpose) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if purpose is ssl.Purpose.CLIENT_AUTH
                         else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = MINIMUM_VERSION
    ctx.set_ciphers(BCP195_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return ctx


def _load_chain(ctx: ssl.SSLContext, tls: TlsConfig) -> None:
    cert = _readable(tls.certificate, "certificate")
    key = _readable(tls.key, "key")
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsError(f"tls.certificate and tls.key do not make a usable pair "
                       f"({exc.reason or exc}): are both PEM, and is the key the "
                       "certificate's, unencrypted?") from exc


def _load_ca(ctx: ssl.SSLContext, tls: TlsConfig) -> None:
    ca = _readable(tls.ca, "ca")
    try:
        ctx.load_verify_locations(cafile=ca)
    except ssl.SSLError as exc:
        raise TlsError(f"tls.ca = {tls.ca!r} holds no usable PEM certificate "
                       f"({exc.reason or exc})") from exc


def _load_dh_params(ctx: ssl.SSLContext) -> None:
    fd, path = tempfile.mkstemp(prefix="mw-tui-dh-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(FFDHE2048)
        ctx.load_dh_params(path)
    finally:
        os.unlink(path)


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """The context of the TLS listener; TlsError when the configuration cannot work."""
    ctx = _base(ssl.Purpose.CLIENT_AUTH)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    _load_dh_params(ctx)
    _load_chain(ctx, tls)
    ctx.verify_mode = _VERIFY[tls.verify_clients]
    if tls.verify_clients != "none":
        if not tls.ca:
            raise TlsError(f"tls.verify_clients = {tls.verify_clients!r} needs tls.ca: the "
                           "authority that signs the clients' certificates")
        _load_ca(ctx, tls)
    return ctx


def client_context(tls: TlsConfig) -> ssl.SSLContext:
    """The context for associations to TLS archives (our certificate when configured)."""
    ctx = _base(ssl.Purpose.SERVER_AUTH)
    if tls.verify_archives:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = True
        if tls.ca:
            _load_ca(ctx, tls)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.certificate or tls.key:
        _load_chain(ctx, tls)
    return ctx


def tls_args(config: Config, archive: Archive) -> tuple[ssl.SSLContext, str] | None:
    """What pynetdicom's `AE.associate(..., tls_args=...)` takes for this archive."""
    if not archive.tls:
        return None
    return client_context(config.tls), archive.host


def describe(sock: ssl.SSLSocket) -> str:
    """'TLSv1.3 TLS_AES_256_GCM_SHA384, certificate CN=...' for the logs."""
    cipher = sock.cipher()
    text = f"{sock.version()} {cipher[0] if cipher else '?'}"
    cert = sock.getpeercert()
    if cert:
        cn = "?"
        for rdn in cert.get("subject", ()):
            for pair in rdn:
                if isinstance(pair, tuple) and pair[0] == "commonName":
                    cn = str(pair[1])
        text += f", certificate CN={cn}"
    return text
