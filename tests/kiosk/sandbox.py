"""A private mount namespace with made-up accounts, for the kiosk tests.

The kiosk is about Unix users and groups (the station's user, support staff, a stranger),
but tests must not add users to the machine. A `Sandbox` keeps one mount namespace alive
(`unshare --mount` running `sleep`), bind-mounts copies of /etc/passwd and /etc/group
with the test accounts over the real ones inside it, and runs commands in it as those
users (`nsenter` + `setpriv`). Real tools (tmux, polkitd, dbus-daemon) then resolve the
names as on a real station, while the host sees nothing.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers import wait_until

FIRST_UID = 62100


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int  # its own group, same name
    groups: tuple[int, ...]  # supplementary gids


def _free_ids(count: int) -> list[int]:
    ids: list[int] = []
    candidate = FIRST_UID
    while len(ids) < count:
        try:
            pwd.getpwuid(candidate)
            taken = True
        except KeyError:
            try:
                grp.getgrgid(candidate)
                taken = True
            except KeyError:
                taken = False
        if not taken:
            ids.append(candidate)
        candidate += 1
    return ids


def _without(table: str, names: Sequence[str]) -> str:
    """/etc/passwd or /etc/group text without the lines of `names`."""
    return "".join(line for line in table.splitlines(keepends=True)
                   if line.split(":", 1)[0] not in names)


class Sandbox:
    """Accounts `users` (name -> supplementary group names: the sandbox's `groups` or the
    machine's) in a private mount namespace; the machine's accounts and groups named in
    `absent` are not there."""

    def __init__(self, workdir: Path, users: dict[str, Sequence[str]],
                 groups: Sequence[str] = (), absent: Sequence[str] = ()) -> None:
        for tool in ("unshare", "nsenter", "setpriv"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is missing (util-linux)")
        self.workdir = workdir
        ids = _free_ids(len(users) + len(groups))
        self.gids: dict[str, int] = {}
        for name, gid in zip([*users, *groups], ids, strict=True):
            self.gids[name] = gid
        self.accounts: dict[str, Account] = {}
        members: dict[str, list[str]] = {g: [] for g in self.gids}
        for name, extra in users.items():
            for g in extra:
                if g in members:
                    members[g].append(name)
            gid = self.gids[name]
            self.accounts[name] = Account(name, gid, gid, tuple(self._gid(g) for g in extra))
        passwd = _without(Path("/etc/passwd").read_text(), absent)
        passwd += "".join(f"{a.name}:x:{a.uid}:{a.gid}:test:/nonexistent:/usr/sbin/nologin\n"
                          for a in self.accounts.values())
        group = _without(Path("/etc/group").read_text(), absent)
        group += "".join(f"{g}:x:{gid}:{','.join(members[g])}\n"
                         for g, gid in self.gids.items())
        (workdir / "passwd").write_text(passwd)
        (workdir / "group").write_text(group)
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sleep", "infinity"],
            start_new_session=True)
        # unshare execs sleep once the namespace exists: then its mount ns differs
        wait_until(lambda: os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
                   != os.readlink("/proc/self/ns/mnt"), timeout=10, what="the namespace")
        self.mount_bind(workdir / "passwd", "/etc/passwd")
        self.mount_bind(workdir / "group", "/etc/group")

    def add_to_group(self, user: str, group: str) -> None:
        """Make `user` a member of sandbox group `group` (as `usermod -aG` would)."""
        a = self.accounts[user]
        self.accounts[user] = Account(a.name, a.uid, a.gid, (*a.groups, self.gids[group]))
        path = self.workdir / "group"
        lines = []
        for line in path.read_text().splitlines():
            fields = line.split(":")
            if fields[0] == group:
                fields[3] = ",".join(m for m in (*fields[3].split(","), user) if m)
            lines.append(":".join(fields))
        with path.open("r+") as f:  # the same file: the bind mount shows the change
            f.write("\n".join(lines) + "\n")
            f.truncate()

    def _gid(self, group: str) -> int:
        """A sandbox group, or one of this machine's (cdrom, plugdev, ...)."""
        return self.gids[group] if group in self.gids else grp.getgrnam(group).gr_gid

    def mount_bind(self, source: Path | str, target: str) -> None:
        self.run(["mount", "--bind", str(source), target], check=True)

    def mount_tmpfs(self, target: str) -> None:
        self.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", target], check=True)

    def mount_overlay(self, target: str) -> None:
        """`target` as it is, but what is written there inside the namespace goes to a
        tmpfs of the namespace's: the machine's folder is never changed."""
        scratch = self.workdir / f"overlay{target.replace('/', '-')}"
        scratch.mkdir()
        self.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", str(scratch)], check=True)
        self.run(["mkdir", f"{scratch}/upper", f"{scratch}/work"], check=True)
        self.run(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={target},upperdir={scratch}/upper,workdir={scratch}/work", target],
                 check=True)

    def command(self, args: Sequence[str], user: str | None = None) -> list[str]:
        """`args` run inside the namespace, as `user` (with its groups) or as root."""
        cmd = ["nsenter", f"--target={self.holder.pid}", "--mount", "--"]
        if user is not None:
            a = self.accounts[user]
            groups = ",".join(str(g) for g in (a.gid, *a.groups))
            cmd += ["setpriv", f"--reuid={a.uid}", f"--regid={a.gid}", f"--groups={groups}",
                    "--"]
        return cmd + list(args)

    def run(self, args: Sequence[str], user: str | None = None, check: bool = False,
            timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.command(args, user), capture_output=True, text=True,
                              timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def popen(self, args: Sequence[str], user: str | None = None,
              **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(args, user), **kw)

    def close(self) -> None:
        if self.holder.poll() is None:
            os.kill(self.holder.pid, signal.SIGKILL)
        self.holder.wait(timeout=10)
