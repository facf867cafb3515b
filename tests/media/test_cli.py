"""`mw-tui build` as a technician runs it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from mw_tui.cli import main
from mw_tui.station.media import numbered
from tests.media.conftest import Corpus


def config_file(tmp: Path, corpus: Corpus, media: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(f'[station]\nstorage = "{corpus.root}"\n\n[media]\n{media}\n')
    return path


def run(tmp: Path, corpus: Corpus, *args: str, media: str = "") -> int:
    return main(["--config", str(config_file(tmp, corpus, media)), "build",
                 "--workdir", str(tmp / "work"), *args])


def test_build_an_iso_prints_the_volume(corpus: Corpus, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.iso"
    uid = corpus.generated["latin1"]
    assert run(tmp_path, corpus, "--study", uid, "--iso", str(out),
               media='institution = "St. Elsewhere"\ndefault_profile = "STD-GEN-DVD-J2K"') == 0
    line = capsys.readouterr().out.strip()
    md5 = hashlib.md5(out.read_bytes()).hexdigest()
    assert re.match(rf"disc 1 of 1: MW\d{{10}}  STD-GEN-DVD-J2K  13 DICOM files  .*  md5 {md5}  "
                    rf"{re.escape(str(out))}$", line), line
    assert not list((tmp_path / "work").iterdir())  # the work folder is cleaned up


def test_several_volumes_get_numbered_names(corpus: Corpus, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    studies = [corpus.generated[k] for k in ("span_a", "span_b", "span_c")]
    assert run(tmp_path, corpus, "--study", *studies, "--capacity", "400K", "--iso",
               str(tmp_path / "set.iso")) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 2
    for n, line in enumerate(lines, 1):
        assert line.startswith(f"disc {n} of {len(lines)}: ")
        assert (tmp_path / f"set_{n}.iso").stat().st_size <= 400_000
    assert not (tmp_path / "set.iso").exists()


def test_build_a_folder(corpus: Corpus, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "usb"
    assert run(tmp_path, corpus, "--study", corpus.generated["utf8"], "--profile",
               "std-gen-usb-jpeg", "--dir", str(out)) == 0
    assert "STD-GEN-USB-JPEG  4 DICOM files" in capsys.readouterr().out
    assert (out / "DICOMDIR").is_file() and (out / "README.TXT").is_file()
    assert run(tmp_path, corpus, "--study", corpus.generated["utf8"], "--dir", str(out)) == 1
    assert "is not empty" in capsys.readouterr().err


def test_errors_say_what_to_do(corpus: Corpus, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, corpus, "--study", "1.2.3.4", "--iso", str(tmp_path / "x.iso")) == 1
    err = capsys.readouterr().err
    assert "study 1.2.3.4 is not in the store" in err and "mw-tui studies" in err
    assert run(tmp_path, corpus, "--study", corpus.generated["latin1"], "--profile", "CD",
               "--iso", str(tmp_path / "x.iso")) == 2
    assert "unknown media profile 'CD'" in capsys.readouterr().err
    assert run(tmp_path, corpus, "--study", corpus.corrupt_study, "--iso",
               str(tmp_path / "x.iso")) == 1
    err = capsys.readouterr().err
    assert "cannot be decoded" in err and "Choose a profile that allows it" in err
    assert not (tmp_path / "x.iso").exists()


def test_numbered_names() -> None:
    assert numbered(Path("/a/out.iso"), 1, 1) == Path("/a/out.iso")
    assert numbered(Path("/a/out.iso"), 2, 3) == Path("/a/out_2.iso")
    assert numbered(Path("/a/disc"), 3, 3) == Path("/a/disc_3")
