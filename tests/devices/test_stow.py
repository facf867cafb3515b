"""STOW-RS to a real Orthanc (DICOMweb plugin), confirmed with QIDO-RS; authentication
and TLS verification through a small relay in front of it."""

from __future__ import annotations

import base64
import http.client
import http.server
import io
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from mw_tui.config import CloudTarget
from mw_tui.devices.writers import qido
from mw_tui.devices.writers.base import ProblemCode, Progress
from mw_tui.devices.writers.stow import StowWriter
from tests.devices.conftest import make_volume, raises_problem
from tests.peers import Orthanc


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    o = Orthanc(tmp_path_factory.mktemp("orthanc"), dicomweb=True)
    try:
        yield o.start()
    finally:
        o.stop()


class Relay:
    """HTTP(S) in front of Orthanc that demands one Authorization header (none: any);
    `rewrite` changes the path and query of each request before it goes on."""

    def __init__(self, upstream_port: int, authorization: str | None,
                 tls: tuple[Path, Path] | None = None,
                 rewrite: Callable[[str], str] | None = None) -> None:
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = self._chunked()
                if authorization is not None and self.headers.get("Authorization") != authorization:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("authorization", "transfer-encoding", "host",
                                                "content-length")}
                path = rewrite(self.path) if rewrite is not None else self.path
                relay.paths.append((self.command, path))
                conn.request(self.command, path, body, headers)
                rsp = conn.getresponse()
                data = rsp.read()
                self.send_response(rsp.status)
                for k, v in rsp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                relay.requests += 1

            def _chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            do_GET = do_POST = _relay

        self.requests = 0
        self.paths: list[tuple[str, str]] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # kept-alive connections must not hold close()
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://localhost:{self.server.server_address[1]}/dicom-web"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def study_instance_uids(orthanc: Orthanc, study_uid: str) -> set[str]:
    query = {"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True}
    found = orthanc.request("POST", "/tools/find", json.dumps(query).encode())
    return {i["MainDicomTags"]["SOPInstanceUID"] for i in found}


def test_stow_rs_then_qido_rs_confirms_every_instance(orthanc: Orthanc,
                                                      tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=5, iso=False)
    writer = StowWriter(CloudTarget(name="cloud", url=f"{orthanc.url}/dicom-web"))
    assert writer.check(volume) == []
    seen: list[Progress] = []
    result = writer.write(volume, seen.append)
    assert result.verified and "QIDO-RS lists every instance sent" in result.details
    sent = [p for p in seen if p.unit == "instances"]
    assert [p.done for p in sent] == [0, 1, 2, 3, 4, 5] and sent[-1].total == 5
    import pydicom

    datasets = [pydicom.dcmread(io.BytesIO(f.read())) for f in volume.dicom_files()]
    first = datasets[0]
    uids = {str(ds.SOPInstanceUID) for ds in datasets}
    assert study_instance_uids(orthanc, str(first.StudyInstanceUID)) == uids


def test_basic_and_bearer_authentication(orthanc: Orthanc, tmp_path: Path) -> None:
    volume = make_volume(tmp_path, instances=2, iso=False)
    basic = "Basic " + base64.b64encode(b"station:s3cret").decode()
    relay = Relay(orthanc.http_port, basic)
    try:
        good = CloudTarget(name="c", url=relay.url, auth="basic", username="station",
                      password="s3cret")
        assert StowWriter(good).write(volume).verified
        bad = CloudTarget(name="c", url=relay.url, auth="basic", username="station",
                     password="wrong")
        problems = StowWriter(bad).check(volume)
        assert [p.code for p in problems] == [ProblemCode.REFUSED]
        assert "refused the credentials (HTTP 401)" in problems[0].message
        with raises_problem(ProblemCode.REFUSED, match="check the target's username and password"):
            StowWriter(bad).write(volume)
    finally:
        relay.close()
    relay = Relay(orthanc.http_port, "Bearer tok-123")
    try:
        target = CloudTarget(name="c", url=relay.url, auth="bearer", token="tok-123")
        assert StowWriter(target).write(volume).verified
        assert relay.requests >= 3
    finally:
        relay.close()


def test_tls_certificates_are_verified(orthanc: Orthanc, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    volume = make_volume(tmp_path, instances=1, iso=False)
    relay = Relay(orthanc.http_port, "Bearer t", tls=(cert, key))
    try:
        untrusted = CloudTarget(name="c", url=relay.url, auth="bearer", token="t")
        with raises_problem(ProblemCode.REFUSED,
                            match=r"TLS certificate of localhost:\d+ is not trusted"):
            StowWriter(untrusted).write(volume)
        trusted = CloudTarget(name="c", url=relay.url, auth="bearer", token="t",
                         ca_bundle=str(cert))
        assert StowWriter(trusted).write(volume).verified
    finally:
        relay.close()


def test_an_unreachable_archive_and_a_wrong_url(orthanc: Orthanc, tmp_path: Path) -> None:
    from tests.peers import free_port

    volume = make_volume(tmp_path, instances=1, iso=False)
    down = CloudTarget(name="c", url=f"http://127.0.0.1:{free_port()}/dicom-web", timeout=5)
    problems = StowWriter(down).check(volume)
    assert [p.code for p in problems] == [ProblemCode.UNREACHABLE]
    assert "check the network" in problems[0].message
    wrong = CloudTarget(name="c", url=f"{orthanc.url}/not-dicom-web")
    with raises_problem(ProblemCode.REFUSED, match="no DICOMweb service"):
        StowWriter(wrong).write(volume)


def _ignoring_offset(cap: int) -> Callable[[str], str]:
    """A server that pages badly: QIDO-RS requests lose their offset and get at most `cap`
    results, whatever limit they ask for."""
    def rewrite(path: str) -> str:
        parts = urlsplit(path)
        if not parts.path.endswith("/instances") or not parts.query:
            return path
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("offset", "limit")]
        return f"{parts.path}?{urlencode([*query, ('limit', str(cap))])}"
    return rewrite


def _uids(volume: object) -> tuple[str, set[str]]:
    import pydicom

    datasets = [pydicom.dcmread(io.BytesIO(f.read()))
                for f in volume.dicom_files()]  # type: ignore[attr-defined]
    return str(datasets[0].StudyInstanceUID), {str(ds.SOPInstanceUID) for ds in datasets}


def test_a_server_that_ignores_the_offset_neither_loops_nor_hides_instances(
        orthanc: Orthanc, tmp_path: Path) -> None:
    """STOW-RS, then the check through a server that ignores offset and gives 3 results a
    page: the same page comes back, so the rest are asked for one by one. (dicomweb-
    client's paging asked for the next page forever.)"""
    volume = make_volume(tmp_path, instances=8, iso=False)
    study, uids = _uids(volume)
    relay = Relay(orthanc.http_port, None, rewrite=_ignoring_offset(3))
    result: list[object] = []
    try:
        writer = StowWriter(CloudTarget(name="c", url=relay.url, timeout=10))
        worker = threading.Thread(target=lambda: result.append(writer.write(volume)),
                                  daemon=True)
        worker.start()
        worker.join(120)
        assert not worker.is_alive(), "the check after STOW-RS never ended"
        assert result and result[0].verified  # type: ignore[attr-defined]
        asked = [p for c, p in relay.paths if c == "GET" and "/instances" in p]
        assert len(asked) == 2 + 5  # two pages (the second the same), then one by one
        import requests

        with requests.Session() as session:
            assert qido.listed(session, relay.url, study, uids, 10) == uids
            missing = {*uids, "1.2.3.4.5.6.7.8.9"}  # one that is not there: asked, not found
            assert qido.listed(session, relay.url, study, missing, 10) == uids
    finally:
        relay.close()


def test_a_server_that_pages_is_asked_page_after_page(orthanc: Orthanc, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    volume = make_volume(tmp_path, instances=7, iso=False)
    study, uids = _uids(volume)
    assert StowWriter(CloudTarget(name="c", url=f"{orthanc.url}/dicom-web")).write(
        volume).verified
    monkeypatch.setattr(qido, "PAGE", 3)
    relay = Relay(orthanc.http_port, None)
    try:
        import requests

        with requests.Session() as session:
            assert qido.listed(session, relay.url, study, uids, 10) == uids
        offsets = [dict(parse_qsl(urlsplit(p).query)).get("offset") for _c, p in relay.paths]
        assert offsets == ["0", "3", "6"]  # stopped once every instance was seen
    finally:
        relay.close()
