"""Certificates for the tests' TLS peers (DICOM TLS, the audit repository), made with
openssl: a CA, servers and clients signed by it, rogue ones signed by another."""

from __future__ import annotations

import subprocess
from pathlib import Path


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def issue(folder: Path, name: str, cn: str, ca: str | None, san: str = "") -> None:
    """name.key and name.crt: signed by `ca` (the name of another pair), or self-signed."""
    key, crt, csr = (str(folder / f"{name}.{x}") for x in ("key", "crt", "csr"))
    if ca is None:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                "-days", "2", "-subj", f"/CN={cn}")
        return
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
            f"/CN={cn}")
    ext = folder / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", csr, "-CA", str(folder / f"{ca}.crt"), "-CAkey",
            str(folder / f"{ca}.key"), "-CAcreateserial", "-out", crt, "-days", "2",
            "-extfile", str(ext))
