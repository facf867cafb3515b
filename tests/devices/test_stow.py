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
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.config import CloudTarget
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
    """HTTP(S) in front of Orthanc that demands one Authorization header."""

    def __init__(self, upstream_port: int, authorization: str,
                 tls: tuple[Path, Path] | None = None) -> None:
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
                if self.headers.get("Authorization") != authorization:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("authorization", "transfer-encoding", "host",
                                                "content-length")}
                conn.request(self.command, self.path, body, headers)
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
