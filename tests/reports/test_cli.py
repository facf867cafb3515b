"""`mw-tui reports STUDY_UID [--json]` end to end: a subprocess against a broker emulated
in the test and a real Orthanc."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.store import Store
from tests.dicom import qr_data
from tests.peers import Orthanc, free_port
from tests.reports.broker import Broker, report
from tests.reports.conftest import put

studies = qr_data.studies  # the shared module fixture


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory,
         studies: dict[str, qr_data.Study]) -> Iterator[Orthanc]:
    with qr_data.loaded_pacs(tmp_path_factory.mktemp("pacs"), studies, ["doe_ct"]) as o:
        yield o


def write_config(tmp: Path, archives: tuple[cfg.Archive, ...],
                 sources: tuple[cfg.ReportSource, ...]) -> Path:
    config = qr_data.config_with(tmp, *archives)
    lines = [qr_data.toml_for(config)]
    for s in sources:
        lines += ["[[report_sources]]", f'name = "{s.name}"', f'ae_title = "{s.ae_title}"',
                  f'host = "{s.host}"', f"port = {s.port}", f"timeout = {s.timeout}", ""]
    path = tmp / "config.toml"
    path.write_text("\n".join(lines))
    loaded = cfg.load(path)
    assert loaded.report_sources == sources
    assert loaded == dataclasses.replace(config, report_sources=sources, path=path)
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mw_tui", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def source(broker: Broker, name: str = "broker", port: int = 0) -> cfg.ReportSource:
    return cfg.ReportSource(name=name, ae_title=broker.ae_title, host="127.0.0.1",
                            port=port or broker.port, timeout=5.0)


def test_reports_json_lists_broker_and_archive_reports(
        tmp_path: Path, pacs: Orthanc, studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    broker = Broker([report(study.uid, "ACC101", "P001", "R-1", "Line 1.\nLine 2.",
                            author="Grün^Eva")]).start()
    try:
        path = write_config(tmp_path, (qr_data.archive_of(pacs, "pacs", "get"),),
                            (source(broker),))
        store = Store(tmp_path / "store")
        for ds in study.datasets[:2]:
            put(store, ds)
        store.close()
        proc = cli(path, "reports", study.uid, "--json")
        again = cli(path, "reports", study.uid)
    finally:
        broker.stop()
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    assert sorted(r["source"] for r in reports) == ["mitra", "pdf", "sr"]
    mitra = next(r for r in reports if r["source"] == "mitra")
    assert (mitra["title"], mitra["status"], mitra["date"], mitra["author"], mitra["origin"],
            mitra["added"]) == ("Diagnostic Imaging Report", "final", "20240116", "Grün^Eva",
                                "broker", True)
    assert all(r["added"] for r in reports)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0].split()[:5] == ["Source", "Status", "Date", "Author", "From"]
    assert any(line.startswith("mitra  final       20240116 Grün^Eva") for line in lines)
    assert lines[-1] == "3 reports"  # nothing new the second time


def test_reports_json_carries_each_report_text_and_its_status(
        tmp_path: Path, pacs: Orthanc, studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    broker = Broker([
        report(study.uid, "ACC101", "P001", "R-1", "Line 1.\nLine 2.",
               impressions="No acute disease.", author="Grün^Eva"),
        # approved, but the broker names nobody as approver: final all the same
        report(study.uid, "ACC101", "P001", "R-2", "Addendum text.", approver="",
               date="20240117"),
        report(study.uid, "ACC101", "P001", "R-3", "Dictated, typed.", status="TRANSCRIBED",
               impressions="Pending review.", date="20240118"),
    ]).start()
    try:
        path = write_config(tmp_path, (qr_data.archive_of(pacs, "pacs", "get"),),
                            (source(broker),))
        store = Store(tmp_path / "store")
        put(store, study.datasets[0])
        store.close()
        proc = cli(path, "reports", study.uid, "--json")
    finally:
        broker.stop()
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    mitra = {r["date"]: r for r in reports if r["source"] == "mitra"}
    assert [(m["status"], m["text"], m["impressions"]) for _, m in sorted(mitra.items())] == [
        ("final", "Line 1.\nLine 2.", "No acute disease."),
        ("final", "Addendum text.", ""),
        ("preliminary", "Dictated, typed.", "Pending review."),
    ]
    sr = next(r for r in reports if r["source"] == "sr")
    assert (sr["status"], sr["text"], sr["impressions"]) == ("preliminary", "No findings.", "")
    pdf = next(r for r in reports if r["source"] == "pdf")
    assert (pdf["text"], pdf["impressions"]) == ("", "")


def test_reports_fails_with_the_reason(tmp_path: Path, pacs: Orthanc,
                                       studies: dict[str, qr_data.Study]) -> None:
    study = studies["doe_ct"]
    dead = Broker()
    path = write_config(tmp_path, (qr_data.archive_of(pacs, "pacs", "get"),),
                        (source(dead, "dead", free_port()),))
    proc = cli(path, "reports", study.uid, "--json")
    assert proc.returncode == 1
    assert len(json.loads(proc.stdout)) == 2  # the archive's SR and PDF still came
    assert "mw-tui reports: dead: " in proc.stderr and "refused the connection" in proc.stderr

    bad = cli(path, "reports", "not-a-uid")
    assert bad.returncode == 2 and "not a valid Study Instance UID" in bad.stderr
    unknown = cli(path, "reports", study.uid, "--archive", "nowhere")
    assert unknown.returncode == 2 and "no archive named 'nowhere'" in unknown.stderr


def test_reports_with_nothing_configured_says_what_to_add(tmp_path: Path) -> None:
    path = write_config(tmp_path, (), ())
    proc = cli(path, "reports", "1.2.3")
    assert proc.returncode == 2
    assert "[[report_sources]]" in proc.stderr and "[[archives]]" in proc.stderr
