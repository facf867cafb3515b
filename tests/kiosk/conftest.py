"""The kiosk installed into a scratch root, once per test session, for every kiosk test.

install.sh runs against a snapshot of the checkout (other people edit the working tree
while tests run; a snapshot keeps "a second run changes nothing" about install.sh) and a
scratch root seeded with this machine's account files and a tty1 getty, as on Debian.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import need_root

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600


@dataclass(frozen=True)
class Installed:
    root: Path  # the scratch root
    src: Path  # the checkout snapshot install.sh ran from
    output: str  # what the first install printed

    def path(self, target: str) -> Path:
        return self.root / target.lstrip("/")


def snapshot_checkout(dest: Path) -> Path:
    """The parts of the checkout install.sh reads, copied to `dest`."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    dest.mkdir(parents=True)
    for name in ("mw_tui", "kiosk", "systemd"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore, symlinks=True)
    for name in ("pyproject.toml", "constraints.txt", "README.md", "debian-packages.txt"):
        shutil.copy2(REPO / name, dest / name)
    return dest


def seed_root(root: Path) -> Path:
    """A scratch root with the account files of this machine and tty1's getty enabled."""
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    (root / "lib/systemd/system").mkdir(parents=True)
    shutil.copy2("/lib/systemd/system/getty@.service", root / "lib/systemd/system")
    wants = root / "etc/systemd/system/getty.target.wants"
    wants.mkdir(parents=True)
    (wants / "getty@tty1.service").symlink_to("/lib/systemd/system/getty@.service")
    return root


def run_script(src: Path, script: str, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(src / "kiosk" / script), *args], capture_output=True,
                          text=True, timeout=INSTALL_TIMEOUT,
                          env={**os.environ, **(env or {})})


def manifest(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under `root`: type, mode, owner, group and content checksum (or target)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = "/" + str(p.relative_to(root))
            meta = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = (*meta, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = (*meta, hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[rel] = meta
    return out


def manifest_diff(before: dict[str, tuple[object, ...]],
                  after: dict[str, tuple[object, ...]]) -> list[str]:
    lines = [f"+ {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"- {p}" for p in sorted(before.keys() - after.keys())]
    lines += [f"~ {p}: {before[p]} -> {after[p]}" for p in sorted(before.keys() & after.keys())
              if before[p] != after[p]]
    return lines


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    need_root("root (chown, useradd --prefix)")
    base = tmp_path_factory.mktemp("kiosk")
    src = snapshot_checkout(base / "src")
    root = seed_root(base / "root")
    proc = run_script(src, "install.sh", "--root", str(root))
    assert proc.returncode == 0, f"install.sh failed:\n{proc.stdout}\n{proc.stderr}"
    yield Installed(root, src, proc.stdout)
    shutil.rmtree(base, ignore_errors=True)
