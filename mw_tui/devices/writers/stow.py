"""Send a volume's DICOM instances to a cloud archive with DICOMweb STOW-RS, then ask
it with QIDO-RS whether every instance is there.

Basic or bearer authentication; TLS certificates are verified unless the target says
otherwise (a private CA goes into `ca_bundle`).
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any
from urllib.parse import urlparse

import requests

from mw_tui.config import CloudTarget, check_url
from mw_tui.config.targets import TargetKind
from mw_tui.devices.models import Device
from mw_tui.devices.writers import qido
from mw_tui.devices.writers.base import (
    CancelToken,
    Meter,
    Phase,
    Problem,
    ProblemCode,
    ProgressCallback,
    Remedy,
    Writer,
    WriterError,
    WriteResult,
    announce,
)
from mw_tui.media.profiles import Medium, Profile
from mw_tui.media.volume import Volume, VolumeFile


class StowWriter(Writer):
    kind = TargetKind.CLOUD
    profiles = ()

    @classmethod
    def medium(cls, profile: Profile | None, device: Device | None = None) -> Medium:
        return Medium("cloud", None)

    def __init__(self, target: CloudTarget) -> None:
        self.endpoint = target

    def _config_problems(self) -> list[str]:
        bad_url = check_url(self.endpoint.url)
        return ([f"url must be {bad_url}"] if bad_url else []) + self.endpoint.problems()

    def describe(self) -> str:
        name = f"{self.endpoint.name}: " if self.endpoint.name else ""
        return f"DICOMweb archive {name}{self.endpoint.url}"

    def _client(self) -> Any:
        from dicomweb_client.api import DICOMwebClient

        e = self.endpoint
        client = DICOMwebClient(e.url.rstrip("/"), session=session_for(e), timeout=e.timeout)
        client.set_http_retry_params(retry=False)
        return client

    def check(self, volume: Volume) -> list[Problem]:
        config = self._config_problems()
        if config:
            return [Problem(ProblemCode.NOT_CONFIGURED, f"The DICOMweb target is not set up "
                            f"right ({'; '.join(config)}): fix it in the configuration.",
                            Remedy.SETTINGS)]
        problems = []
        if not volume.dicom_files():
            problems.append(Problem(ProblemCode.NOTHING_TO_SEND,
                                    "The volume holds no DICOM instances to send."))
        try:
            self._client().search_for_studies(limit=1)
        except Exception as exc:
            problems.append(self._error(exc).problem)
        return problems

    def write(self, volume: Volume, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> WriteResult:
        announce(progress, Phase.PREPARING, f"Contacting {self.describe()}")
        config = self._config_problems()
        if config:
            raise WriterError(ProblemCode.NOT_CONFIGURED,
                              f"The DICOMweb target is not set up right "
                              f"({'; '.join(config)}): fix it in the configuration.")
        files = volume.dicom_files()
        if not files:
            raise WriterError(ProblemCode.WRITE_FAILED,
                              "The volume holds no DICOM instances to send.", Remedy.RETRY)
        client = self._client()
        meter = Meter(Phase.WRITING, len(files), progress, unit="instances", interval=0)
        meter.update(0, force=True, message=f"Sending {len(files)} instances")
        sent: dict[str, set[str]] = defaultdict(set)
        size = 0
        for i, f in enumerate(files):
            if cancel is not None and cancel.is_set():
                raise WriterError(ProblemCode.CANCELLED,
                                  f"Sending was cancelled after {i} of {len(files)} instances; "
                                  "the archive keeps those (sending again is harmless).")
            ds = _read(f)
            try:
                reply = client.store_instances([ds])
            except Exception as exc:
                raise self._error(exc, f"after {i} of {len(files)} instances") from exc
            failed = reply.get("FailedSOPSequence") if reply is not None else None
            if failed:
                reason = failed[0].get("FailureReason", "")
                raise WriterError(ProblemCode.WRITE_FAILED,
                                  f"The archive refused {f.dest} (failure reason {reason}): "
                                  "ask its administrator why; the other instances were "
                                  f"sent{'' if i == 0 else ' up to here'}.", Remedy.RETRY)
            sent[str(ds.StudyInstanceUID)].add(str(ds.SOPInstanceUID))
            size += f.size
            meter.update(i + 1)
        announce(progress, Phase.VERIFYING, "Asking the archive (QIDO-RS) for every instance")
        missing = self._missing(sent)
        if missing:
            raise WriterError(ProblemCode.VERIFY_FAILED,
                              f"The archive does not list {len(missing)} of the "
                              f"{len(files)} instances sent (e.g. {sorted(missing)[0]}): send "
                              "again, or ask the archive's administrator.", Remedy.RETRY)
        announce(progress, Phase.DONE, "Every instance is in the archive.")
        return WriteResult(
            verified=True, md5=None, safe_to_remove=True, location=self.endpoint.url,
            bytes_written=size,
            details=(f"sent {len(files)} instances of {len(sent)} studies with STOW-RS",
                     "QIDO-RS lists every instance sent"))

    def _missing(self, sent: dict[str, set[str]]) -> set[str]:
        e = self.endpoint
        missing: set[str] = set()
        with session_for(e) as session:
            for study, uids in sent.items():
                try:
                    listed = qido.listed(session, e.url, study, uids, e.timeout)
                except Exception as exc:
                    raise self._error(exc, "while checking with QIDO-RS") from exc
                missing |= uids - listed
        return missing

    def _error(self, exc: BaseException, when: str = "") -> WriterError:
        url = self.endpoint.url
        host = urlparse(url).netloc
        when = f" {when}" if when else ""
        if isinstance(exc, requests.exceptions.SSLError):
            return WriterError(ProblemCode.REFUSED,
                               f"The TLS certificate of {host} is not trusted{when} "
                               f"({_short(exc)}): put the archive's CA certificate in this "
                               "target's ca_bundle.")
        if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return WriterError(ProblemCode.UNREACHABLE,
                               f"Cannot reach {url}{when} ({_short(exc)}): check the network "
                               "and the target's url.")
        if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            if status in (401, 403):
                return WriterError(ProblemCode.REFUSED,
                                   f"{host} refused the credentials{when} (HTTP {status}): check "
                                   "the target's username and password or token.")
            if status == 404:
                return WriterError(ProblemCode.REFUSED,
                                   f"There is no DICOMweb service at {url} (HTTP 404): check the "
                                   "url (it often ends in /dicom-web).")
            if status == 413:
                return WriterError(ProblemCode.WRITE_FAILED,
                                   f"{host} refuses instances this large{when} (HTTP 413): ask "
                                   "its administrator to raise the limit.", Remedy.SETTINGS)
            return WriterError(ProblemCode.WRITE_FAILED,
                               f"{host} answered HTTP {status}{when}: try again later or ask its "
                               "administrator.", Remedy.RETRY)
        if isinstance(exc, WriterError):
            return exc
        return WriterError(ProblemCode.WRITE_FAILED,
                           f"Talking to {url} failed{when} ({_short(exc)}).", Remedy.RETRY)


def session_for(target: CloudTarget) -> requests.Session:
    """An HTTP session with the target's authentication and TLS settings (STOW-RS here,
    QIDO-RS and STOW-RS of an import)."""
    session = _Session()
    if target.auth == "basic":
        session.auth = (target.username, target.password)
    elif target.auth == "bearer":
        session.headers["Authorization"] = f"Bearer {target.token}"
    session.verify = target.ca_bundle if target.ca_bundle and target.verify_tls \
        else target.verify_tls
    return session


class _Session(requests.Session):
    """A target's own ca_bundle (or verify_tls = false) wins over REQUESTS_CA_BUNDLE in
    the environment, which requests would otherwise prefer over the session's choice."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(url, proxies, stream,
                                                                      verify, cert)
        if self.verify is not True:
            settings["verify"] = self.verify
        return settings


def _read(f: VolumeFile) -> Any:
    import pydicom

    if f.data is not None or f.offset is not None:  # generated (maybe saved in a pack)
        return pydicom.dcmread(io.BytesIO(f.read()))
    assert f.source is not None
    return pydicom.dcmread(f.source)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."
