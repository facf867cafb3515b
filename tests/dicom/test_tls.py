"""DICOM TLS (PS3.15, BCP 195): the receiver's TLS listener against dcmtk's TLS clients and
pynetdicom with the client context factory; certificates made by `openssl` in the test."""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
import warnings
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE

from mw_tui import config as cfg
from mw_tui.demo import synth
from mw_tui.dicom import tls
from mw_tui.dicom.scp import Receiver, ReceiverError
from mw_tui.standard import sop, status
from mw_tui.store import Store
from tests.conftest import make_config
from tests.peers import dcmtk, free_port, need
from tests.pki import issue


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("openssl")
    d = tmp_path_factory.mktemp("pki")
    issue(d, "ca", "mw-tui test CA", None)
    issue(d, "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1")
    issue(d, "client", "MODALITY", "ca")
    issue(d, "rogue_ca", "someone else", None)
    issue(d, "rogue", "MODALITY", "rogue_ca")
    return d


def tls_config(tmp_path: Path, pki: Path, verify: str = "required") -> cfg.Config:
    base = make_config(tmp_path)
    return dataclasses.replace(base, tls=cfg.TlsConfig(
        port=free_port(), certificate=str(pki / "server.crt"), key=str(pki / "server.key"),
        ca=str(pki / "ca.crt"), verify_clients=verify))


def tls_client(pki: Path, name: str = "client") -> list[str]:
    return ["+tls", str(pki / f"{name}.key"), str(pki / f"{name}.crt"), "+cf",
            str(pki / "ca.crt")]


def test_dcmtk_echo_and_store_over_tls(tmp_path: Path, pki: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config = tls_config(tmp_path, pki)
    ds = synth.image(synth.StudyInfo(), rows=16, columns=16)
    f = synth.save(ds, tmp_path / "ct.dcm")
    with Receiver(config) as r:
        assert r.status().tls_port == config.tls.port
        dcmtk("echoscu", *tls_client(pki), "-aec", "MW_TUI", "127.0.0.1", str(r.tls_port))
        dcmtk("storescu", *tls_client(pki), "-aec", "MW_TUI", "127.0.0.1", str(r.tls_port),
              str(f))
        dcmtk("echoscu", "-aec", "MW_TUI", "127.0.0.1", str(r.port))  # plain port as before
    store = Store(config.storage)
    row = store.index.instance(ds.SOPInstanceUID)
    assert row is not None
    assert pydicom.dcmread(store.root / row.path).PixelData == ds.PixelData
    described = [m.getMessage() for m in caplog.records if "TLS connection from" in
                 m.getMessage()]
    assert described and all("certificate CN=MODALITY" in m for m in described)
    assert all(("TLSv1.2" in m or "TLSv1.3" in m) for m in described)


def test_clients_without_a_valid_certificate_are_refused(
        tmp_path: Path, pki: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tls_config(tmp_path, pki)
    with Receiver(config) as r:
        port = str(r.tls_port)
        rogue = dcmtk("echoscu", *tls_client(pki, "rogue"), "-aec", "MW_TUI", "127.0.0.1",
                      port, check=False)
        anonymous = dcmtk("echoscu", "+tla", "+cf", str(pki / "ca.crt"), "-aec", "MW_TUI",
                          "127.0.0.1", port, check=False)
        plain = dcmtk("echoscu", "-to", "10", "-aec", "MW_TUI", "127.0.0.1", port,
                      check=False)
        good = dcmtk("echoscu", *tls_client(pki), "-aec", "MW_TUI", "127.0.0.1", port,
                     check=False)
    assert rogue.returncode != 0 and anonymous.returncode != 0 and plain.returncode != 0
    assert good.returncode == 0  # and the listener still works after them
    refused = [m.getMessage() for m in caplog.records
               if m.levelno == logging.WARNING and "TLS connection from" in m.getMessage()]
    assert len(refused) == 3, refused  # one line for each, saying why
    assert any("not signed by an authority in tls.ca" in m for m in refused)
    assert any("sent no certificate" in m for m in refused)
    assert any("does not speak TLS" in m for m in refused)


def test_pynetdicom_client_with_the_client_context_factory(tmp_path: Path, pki: Path) -> None:
    config = tls_config(tmp_path, pki)
    client_side = cfg.TlsConfig(certificate=str(pki / "client.crt"),
                                key=str(pki / "client.key"), ca=str(pki / "ca.crt"))
    archive = cfg.Archive(name="secure", ae_title="MW_TUI", host="localhost",
                          port=config.tls.port, tls=True)
    client_config = dataclasses.replace(config, tls=client_side, archives=(archive,))
    ds = synth.image(synth.StudyInfo(), rows=16, columns=16)
    synth.save(ds, tmp_path / "x.dcm")
    with Receiver(config):
        args = tls.tls_args(client_config, archive)
        assert args is not None and args[1] == "localhost"
        ae = AE(ae_title="QRSCU")
        ae.add_requested_context(sop.VERIFICATION)
        ae.add_requested_context(ds.SOPClassUID, [sop.EXPLICIT_VR_LE])
        assoc = ae.associate(archive.host, archive.port, ae_title="MW_TUI", tls_args=args)
        assert assoc.is_established
        assert assoc.send_c_echo().Status == status.SUCCESS
        assert assoc.send_c_store(ds).Status == status.SUCCESS
        assoc.release()
        # the archive's name is checked against its certificate
        wrong = (tls.client_context(client_side), "archive.example.org")
        assoc = ae.associate("127.0.0.1", archive.port, ae_title="MW_TUI", tls_args=wrong)
        assert not assoc.is_established
    assert tls.tls_args(client_config, dataclasses.replace(archive, tls=False)) is None
    assert Store(config.storage).index.instance(ds.SOPInstanceUID) is not None


def handshake(port: int, pki: Path, ctx: ssl.SSLContext) -> str:
    """The protocol and cipher the listener agreed to, or the error."""
    ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw) as s:
            return f"{s.version()} {s.cipher()[0]}"  # type: ignore[index]
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {exc}"


def test_only_tls_1_2_and_later_with_bcp195_ciphers(tmp_path: Path, pki: Path) -> None:
    config = tls_config(tmp_path, pki)
    with Receiver(config) as r:
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        results = {"TLS 1.1": handshake(r.tls_port, pki, old)}
        for cipher in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA",
                       "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(cipher)
            results[cipher] = handshake(r.tls_port, pki, ctx)
        results["default"] = handshake(r.tls_port, pki, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    assert results["TLS 1.1"].startswith("refused"), results
    for weak in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"):
        assert results[weak].startswith("refused"), results  # not forward secret, or CBC
    assert results["ECDHE-RSA-AES128-GCM-SHA256"] == "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"
    assert results["DHE-RSA-AES256-GCM-SHA384"] == "TLSv1.2 DHE-RSA-AES256-GCM-SHA384"
    assert results["default"].startswith("TLSv1.3")


def test_a_tls_configuration_that_cannot_work_stops_the_start(tmp_path: Path,
                                                              pki: Path) -> None:
    good = tls_config(tmp_path, pki)
    cases = {
        "no such file": dataclasses.replace(good.tls, certificate=str(tmp_path / "none.crt")),
        "tls.ca": dataclasses.replace(good.tls, ca=""),
        "do not make a usable pair": dataclasses.replace(good.tls,
                                                         key=str(pki / "client.key")),
        "needs a port of its own": dataclasses.replace(good.tls, port=good.station.port),
    }
    for message, bad in cases.items():
        r = Receiver(dataclasses.replace(good, tls=bad))
        with pytest.raises(ReceiverError, match=message):
            r.start()
        assert not r.status().listening
    with Receiver(dataclasses.replace(good, tls=dataclasses.replace(good.tls, ca="",
                                                                    verify_clients="none"))):
        pass  # no client certificates asked: no CA needed


def test_a_key_given_twice_is_a_configuration_error_not_a_crash() -> None:
    with pytest.raises(cfg.ConfigError, match='Key "ca" already exists'):
        cfg.loads('[tls]\nport = 2762\nca = "/etc/a.pem"\nca = ""\n')


def test_the_qr_client_talks_tls_to_an_archive(tmp_path: Path, pki: Path) -> None:
    """An archive with `tls = true`: echo and search go over DICOM TLS (here to another
    station's TLS listener, which requires a client certificate)."""
    from mw_tui.dicom.echo import echo
    from mw_tui.dicom.find import search
    from mw_tui.dicom.query import StudyQuery

    archive_side = tls_config(tmp_path / "archive", pki)
    with Receiver(archive_side) as r:
        tls_port = r.status().tls_port
        client = make_config(tmp_path / "client")
        entry = cfg.Archive(name="secure", ae_title="MW_TUI", host="localhost", port=tls_port,
                            tls=True, timeout=5)
        with_cert = dataclasses.replace(client, archives=(entry,), tls=cfg.TlsConfig(
            certificate=str(pki / "client.crt"), key=str(pki / "client.key"),
            ca=str(pki / "ca.crt")))
        result = echo(with_cert, "secure")
        assert result.ok, result.message
        # the receiver is no Q/R SCP: the search fails at negotiation, after the handshake
        found = search(with_cert, StudyQuery(patient_id="X"))
        assert not found.outcomes[0].ok
        assert "TLS" not in found.outcomes[0].message
        plain = dataclasses.replace(with_cert, archives=(dataclasses.replace(entry, tls=False),))
        assert not echo(plain, "secure").ok  # plain DICOM to a TLS port gets nowhere
        no_cert = dataclasses.replace(with_cert, tls=cfg.TlsConfig(ca=str(pki / "ca.crt")))
        refused = echo(no_cert, "secure")
        assert not refused.ok
        assert "ended the DICOM TLS session" in refused.message, refused.message
