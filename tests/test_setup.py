"""What `./setup.sh` installs: the Python packages at the versions of constraints.txt
(what CI tested), every package pyproject.toml asks for among them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pinned() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            out[canonical(name)] = version
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_requirement_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = {canonical(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in wanted}
    assert names - set(pinned()) == set()


def test_the_suite_runs_with_the_pinned_versions() -> None:
    """A fresh machine installs what CI tested: a drift (say a new Textual, which moves
    the snapshots) is caught here, before it confuses another test."""
    drift = {}
    for name, version in pinned().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # pinned for a package only some machines need
        if installed != version:
            drift[name] = (installed, version)
    assert not drift, f"installed != constraints.txt: {drift} (run ./setup.sh deps)"


def test_pyproject_admits_the_pinned_versions_and_no_other_textual_major() -> None:
    """pip install of the project alone (no constraints) stays on the tested major of
    what draws the screens, and pyproject never excludes what CI ran."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = pinned()
    for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(text)
        version = pins[canonical(req.name)]
        assert req.specifier.contains(version, prereleases=True), (text, version)
        if canonical(req.name) in ("textual", "textual-serve", "pytest-textual-snapshot"):
            major = int(version.split(".")[0])
            assert not req.specifier.contains(f"{major + 1}.0.0"), f"{text}: no upper bound"
