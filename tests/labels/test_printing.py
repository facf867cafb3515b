"""Printing labels through a real CUPS scheduler (cups.py) to cups-pdf printers: the
printed PDF holds the patient's name; a missing, stopped or unknown printer, and a
cancel, each end with what the technician must know, the label PDF kept."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.config import LabelsConfig
from mw_tui.labels import LabelContent, Labels, PrintState, PrintStatus, StudyLine, print_label
from tests.labels.cups import Cups
from tests.peers import wait_until

pytestmark = pytest.mark.root

CONTENT = LabelContent(patient_name="Παπαδόπουλος^Γιώργος", patient_id="GR-1234",
                       birth_date="19650412", studies=(StudyLine("20240131", "CT", "Thorax"),),
                       institution="Universitätsklinikum Köln", job_id="MW_TUI-42")


@pytest.fixture(scope="module")
def cups() -> Iterator[Cups]:
    server = Cups()
    try:
        server.start()
        server.add_printer("discs")
        server.add_printer("paused")
        server.run("cupsdisable", "paused")
        yield server
    finally:
        server.stop()


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return Labels().pdf(CONTENT, tmp_path / "label.pdf")


def test_the_printed_label_holds_the_patient(cups: Cups, pdf: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPS_SERVER", cups.server)  # found as CUPS clients find it
    before = set(cups.printed())
    seen: list[PrintStatus] = []
    labels = Labels(LabelsConfig(printer="discs", print_timeout=60))
    status = labels.print(pdf, on_status=seen.append, title="mw-tui label job 42")
    assert status.state is PrintState.DONE and status.ok, cups.log()
    assert status.message == "The label was printed on discs."
    assert seen[0].state is PrintState.QUEUED and seen[-1] == status
    assert status.job.startswith("discs-")
    (printed,) = set(cups.printed()) - before
    text = subprocess.run(["pdftotext", str(printed), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Παπαδόπουλος, Γιώργος" in text and "Universitätsklinikum Köln" in text
    assert pdf.exists()  # the label stays with the job


def test_without_a_printer_the_pdf_is_kept(pdf: Path) -> None:
    status = Labels().print(pdf)
    assert status.state is PrintState.KEPT and status.ok
    assert str(pdf) in status.message and "[labels] printer" in status.message


def test_an_unknown_printer_is_named(cups: Cups, pdf: Path) -> None:
    status = print_label(pdf, "nosuch", server=cups.server)
    assert status.state is PrintState.FAILED
    assert "CUPS has no printer 'nosuch'" in status.message and str(pdf) in status.message


def test_a_stopped_printer_times_out_and_its_job_is_cancelled(cups: Cups, pdf: Path) -> None:
    seen: list[PrintStatus] = []
    status = print_label(pdf, "paused", server=cups.server, timeout=1.5, poll=0.1,
                         on_status=seen.append)
    assert status.state is PrintState.TIMED_OUT
    assert "paused did not print the label within 1.5 s" in status.message
    assert "job was cancelled" in status.message and str(pdf) in status.message
    assert any(s.state is PrintState.STOPPED for s in seen), seen
    assert status.job not in cups.pending()


def test_cancel_withdraws_the_print_job(cups: Cups, pdf: Path) -> None:
    cancel = threading.Event()
    done: list[PrintStatus] = []

    def on_status(s: PrintStatus) -> None:
        if s.state is PrintState.STOPPED:
            cancel.set()

    thread = threading.Thread(target=lambda: done.append(print_label(
        pdf, "paused", server=cups.server, poll=0.1, on_status=on_status, cancel=cancel)))
    thread.start()
    thread.join(60)
    (status,) = done
    assert status.state is PrintState.CANCELLED and "cancelled" in status.message
    wait_until(lambda: status.job not in cups.pending(), what="the job gone from the queue")


def test_a_scheduler_that_is_not_there(pdf: Path) -> None:
    from tests.peers import free_port

    status = print_label(pdf, "discs", server=f"127.0.0.1:{free_port()}")
    assert status.state is PrintState.FAILED
    assert "CUPS is not running, or not reachable" in status.message
