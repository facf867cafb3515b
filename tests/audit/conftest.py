"""Fixtures of the audit tests: a test PKI and real rsyslog repositories."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from tests.audit.rsyslog import Rsyslog, make_pki
from tests.conftest import make_config
from tests.peers import need


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("openssl")
    return make_pki(tmp_path_factory.mktemp("audit-pki"))


@pytest.fixture
def rsyslog(tmp_path: Path, pki: Path) -> Iterator[Callable[..., Rsyslog]]:
    """A factory of rsyslog repositories (not started); all are stopped at the end."""
    need("openssl", "rsyslogd")
    made: list[Rsyslog] = []

    def make(tcp_port: int = 0, udp_port: int = 0) -> Rsyslog:
        repo = Rsyslog(tmp_path / f"rsyslog{len(made)}", pki, tcp_port, udp_port)
        made.append(repo)
        return repo

    yield make
    for repo in made:
        repo.stop()


def audit_config(tmp_path: Path, pki: Path, repository: str, client: str = "client",
                 ca: str = "ca", **audit: object) -> cfg.Config:
    """A station configuration sending to `repository` with the test certificates."""
    base = make_config(tmp_path)
    values: dict[str, object] = {"repository": repository, "retry_max": 1.0,
                                 "timeout": 5.0, "address": "station.test"}
    values.update(audit)
    return dataclasses.replace(
        base, audit=cfg.AuditConfig(**values),  # type: ignore[arg-type]
        tls=cfg.TlsConfig(certificate=str(pki / f"{client}.crt"),
                          key=str(pki / f"{client}.key"), ca=str(pki / f"{ca}.crt")))
