"""kiosk/install.sh and uninstall.sh against scratch roots: files, owners, modes, accounts,
idempotency, --dry-run, and a clean removal."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kiosk.conftest import (
    REPO,
    Installed,
    manifest,
    manifest_diff,
    run_script,
    seed_root,
)

pytestmark = pytest.mark.root

UNITS = ("mw-tui-kiosk.service", "mw-tui-receiver.service", "mw-tui-web.service")

# path -> (mode, owner, group) of everything install.sh owns
EXPECTED = {
    "/opt/mw-tui/bin/mw-tui-kiosk": (0o755, "root", "root"),
    "/opt/mw-tui/bin/mw-tui-attach": (0o755, "root", "root"),
    "/opt/mw-tui/share/mw-tui/tmux.conf": (0o644, "root", "root"),
    "/opt/mw-tui/share/mw-tui/README.md": (0o644, "root", "root"),
    "/opt/mw-tui/share/mw-tui/install.env": (0o644, "root", "root"),
    "/etc/udev/rules.d/85-mw-tui.rules": (0o644, "root", "root"),
    "/etc/polkit-1/rules.d/50-mw-tui.rules": (0o644, "root", "root"),
    "/etc/default/console-setup": (0o644, "root", "root"),
    "/etc/mw-tui": (0o2770, "root", "mwtui"),
    "/etc/mw-tui/config.toml": (0o660, "mwtui", "mwtui"),
    "/var/lib/mw-tui": (0o700, "mwtui", "mwtui"),
    "/var/lib/mw-tui/store": (0o700, "mwtui", "mwtui"),
    "/var/log/mw-tui": (0o750, "mwtui", "mwtui"),
    **{f"/etc/systemd/system/{u}": (0o644, "root", "root") for u in UNITS},
}


def accounts(root: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    passwd = {line.split(":")[0]: line.split(":")
              for line in (root / "etc/passwd").read_text().splitlines()}
    group = {line.split(":")[0]: line.split(":")
             for line in (root / "etc/group").read_text().splitlines()}
    return passwd, group


def owner_names(root: Path, uid: int, gid: int) -> tuple[str, str]:
    passwd, group = accounts(root)
    user = next(n for n, f in passwd.items() if int(f[2]) == uid)
    grp = next(n for n, f in group.items() if int(f[2]) == gid)
    return user, grp


def test_every_file_has_its_owner_and_mode(installed: Installed) -> None:
    wrong = []
    for target, (mode, user, group) in EXPECTED.items():
        p = installed.path(target)
        assert p.exists(), f"{target} was not installed"
        st = p.stat()
        got = (st.st_mode & 0o7777, *owner_names(installed.root, st.st_uid, st.st_gid))
        if got != (mode, user, group):
            wrong.append(f"{target}: {oct(got[0])} {got[1]}:{got[2]}, want {oct(mode)} "
                         f"{user}:{group}")
    assert not wrong, "\n".join(wrong)


def test_no_placeholder_is_left_and_paths_are_the_targets(installed: Installed) -> None:
    rendered = [f"/etc/systemd/system/{u}" for u in UNITS] + [
        "/opt/mw-tui/bin/mw-tui-kiosk", "/opt/mw-tui/bin/mw-tui-attach",
        "/etc/polkit-1/rules.d/50-mw-tui.rules"]
    for target in rendered:
        text = installed.path(target).read_text()
        assert not re.search(r"@[A-Z_]+@", text), f"{target} still has a placeholder"
    kiosk = installed.path("/etc/systemd/system/mw-tui-kiosk.service").read_text()
    assert "ExecStart=/opt/mw-tui/bin/mw-tui-kiosk\n" in kiosk
    assert "User=mwtui\n" in kiosk and "SupplementaryGroups=cdrom plugdev mwsupport" in kiosk
    assert 'subject.user !== "mwtui"' in installed.path(
        "/etc/polkit-1/rules.d/50-mw-tui.rules").read_text()
    # the venv is relocated: its scripts name the target path, never the scratch root
    venv_bin = installed.path("/opt/mw-tui/venv/bin")
    assert (venv_bin / "mw-tui").read_text().splitlines()[0] == "#!/opt/mw-tui/venv/bin/python"
    leaks = [p.name for p in venv_bin.iterdir()
             if p.is_file() and not p.is_symlink() and str(installed.root) in p.read_text(
                 errors="replace")]
    assert not leaks, f"venv scripts still name the scratch root: {leaks}"
    assert installed.path("/usr/local/bin/mw-tui").readlink() == Path(
        "/opt/mw-tui/venv/bin/mw-tui")
    assert installed.path("/usr/local/bin/mw-tui-attach").readlink() == Path(
        "/opt/mw-tui/bin/mw-tui-attach")


def test_the_installed_app_runs_and_its_configuration_is_valid(installed: Installed) -> None:
    python = installed.path("/opt/mw-tui/venv/bin/python")
    config = installed.path("/etc/mw-tui/config.toml")
    proc = subprocess.run([str(python), "-B", "-m", "mw_tui", "--config", str(config),
                           "config", "check"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "storage /var/lib/mw-tui/store" in proc.stdout
    text = config.read_text()
    assert "# TCP port the receiver listens on" in text, "the commented default"
    # the station is unprivileged: sticks are mounted through udisks2
    assert 'usb_mount_command = "udisksctl mount --no-user-interaction -b {device}"' in text
    assert 'usb_unmount_command = "udisksctl unmount --no-user-interaction -b {device}"' in text


def test_the_installed_app_has_the_versions_the_suite_ran_with(installed: Installed) -> None:
    # a fresh kiosk gets what CI tested (constraints.txt), not a newer Textual
    pins = dict(line.split("==") for line in
                (REPO / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    python = installed.path("/opt/mw-tui/venv/bin/python")
    proc = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze",
                           "--disable-pip-version-check"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split("==") for line in proc.stdout.splitlines() if "==" in line)
    for name in ("textual", "textual-serve", "pydicom", "pynetdicom", "Pillow", "reportlab"):
        key = next(k for k in pins if k.lower() == name.lower())
        assert got.get(key, got.get(name)) == pins[key], (name, got.get(key), pins[key])


def test_accounts(installed: Installed) -> None:
    passwd, group = accounts(installed.root)
    user = passwd["mwtui"]
    assert int(user[2]) < 1000, "a system user"
    assert user[5] == "/var/lib/mw-tui" and user[6] == "/usr/sbin/nologin"
    assert "mwtui" in group["cdrom"][3].split(",")
    assert "mwtui" in group["plugdev"][3].split(",")
    assert "mwtui" not in group["disk"][3].split(","), "group disk would give every disk"
    assert "mwsupport" in group
    assert int(group["mwsupport"][2]) < 1000


def test_kiosk_enabled_and_tty1_login_prompt_disabled(installed: Installed) -> None:
    wants = installed.path("/etc/systemd/system/multi-user.target.wants")
    assert (wants / "mw-tui-kiosk.service").readlink() == Path(
        "/etc/systemd/system/mw-tui-kiosk.service")
    assert not (wants / "mw-tui-receiver.service").exists()
    assert not installed.path(
        "/etc/systemd/system/getty.target.wants/getty@tty1.service").is_symlink()
    assert installed.path("/opt/mw-tui/share/mw-tui/getty-tty1.enabled").exists()


def test_console_font_is_a_terminus_font_setupcon_finds(installed: Installed) -> None:
    if shutil.which("setupcon") is None:
        pytest.fail("setupcon is missing (Debian package console-setup)")
    text = installed.path("/etc/default/console-setup").read_text()
    assert 'FONTFACE="TerminusBold"' in text
    size = re.search(r'^FONTSIZE="(\d+)x(\d+)"$', text, re.M)
    assert size, text
    width, height = int(size.group(1)), int(size.group(2))
    # setupcon reads this very file (bind-mounted over the real one in a private
    # namespace) and names the font it would load; the font is really there
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         'mount --bind "$1" /etc/default/console-setup && '
         "setupcon --font-only --print-commands-only --force", "sh",
         str(installed.path("/etc/default/console-setup"))],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    font = re.search(r"'(/usr/share/consolefonts/[^']+)'", proc.stdout)
    assert font, proc.stdout
    psf = gzip.decompress(Path(font.group(1)).read_bytes())
    assert (glyph_size(psf)) == (width, height), font.group(1)


def glyph_size(psf: bytes) -> tuple[int, int]:
    """(width, height) of a PSF1 or PSF2 console font's glyphs."""
    if psf[:2] == b"\x36\x04":  # PSF1: 8 pixels wide, height in byte 3
        return 8, psf[3]
    assert psf[:4] == b"\x72\xb5\x4a\x86", "not a PSF font"
    return int.from_bytes(psf[28:32], "little"), int.from_bytes(psf[24:28], "little")


def test_console_font_chosen_for_the_screen(installed: Installed, tmp_path: Path) -> None:
    """auto: the largest font that still gives 80x24 characters on the framebuffer."""
    expect = {"640,480": "8x16", "800,600": "10x20", "1024,768": "12x24",
              "1280,720": "14x28", "1920,1080": "16x32"}
    fb = tmp_path / "virtual_size"
    for size, font in expect.items():
        root = tmp_path / f"root-{size}"
        seed_root(root)
        fb.write_text(size + "\n")
        proc = run_script(installed.src, "install.sh", "--root", str(root), "--dry-run",
                          env={"MW_TUI_FB_SIZE_FILE": str(fb)})
        assert proc.returncode == 0, proc.stderr
        line = next(x for x in proc.stdout.splitlines() if "console font:" in x)
        assert f"TerminusBold {font} " in line, line
        cols, rows = re.search(r": (\d+)x(\d+) characters", line).groups()  # type: ignore[union-attr]
        assert int(cols) >= 80 and int(rows) >= 24, line


def test_second_run_changes_nothing(installed: Installed) -> None:
    before = manifest(installed.root)
    proc = run_script(installed.src, "install.sh", "--root", str(installed.root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert manifest_diff(before, manifest(installed.root)) == []
    assert "nothing to change" in proc.stdout, proc.stdout


def test_dry_run_changes_nothing(installed: Installed, tmp_path: Path) -> None:
    # on an installed root: nothing to do, nothing done
    before = manifest(installed.root)
    proc = run_script(installed.src, "install.sh", "--root", str(installed.root), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to change" in proc.stdout
    assert manifest_diff(before, manifest(installed.root)) == []
    # on a fresh root: every change printed, none made
    fresh = seed_root(tmp_path / "fresh")
    before = manifest(fresh)
    proc = run_script(installed.src, "install.sh", "--root", str(fresh), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert manifest_diff(before, manifest(fresh)) == []
    planned = proc.stdout
    for target in EXPECTED:
        if target not in ("/etc/mw-tui/config.toml",):
            assert f" {target}" in planned, f"--dry-run does not mention {target}"
    assert "would add system user mwtui" in planned
    assert "would create /etc/mw-tui/config.toml" in planned
    assert "would enable mw-tui-kiosk.service" in planned
    assert "would install mw-tui" in planned


def test_a_changed_file_is_put_back_and_an_existing_configuration_kept(
        installed: Installed, tmp_path: Path) -> None:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(installed.root), str(root)], check=True)
    rule = root / "etc/udev/rules.d/85-mw-tui.rules"
    rule.write_text("# edited\n")
    rule.chmod(0o600)
    config = root / "etc/mw-tui/config.toml"
    config.write_text(config.read_text().replace('ae_title = "MW_TUI"', 'ae_title = "OURS"'))
    (root / "var/lib/mw-tui/store").chmod(0o755)
    proc = run_script(installed.src, "install.sh", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    assert "update /etc/udev/rules.d/85-mw-tui.rules" in proc.stdout
    assert "chmod 0700 /var/lib/mw-tui/store" in proc.stdout
    assert rule.read_bytes() == installed.path("/etc/udev/rules.d/85-mw-tui.rules").read_bytes()
    assert rule.stat().st_mode & 0o777 == 0o644
    assert 'ae_title = "OURS"' in config.read_text(), "an existing configuration is kept"
    assert (root / "var/lib/mw-tui/store").stat().st_mode & 0o777 == 0o700


def test_headless_install_enables_the_receiver_instead(installed: Installed,
                                                       tmp_path: Path) -> None:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(installed.root), str(root)], check=True)
    proc = run_script(installed.src, "install.sh", "--root", str(root), "--headless")
    assert proc.returncode == 0, proc.stderr
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "mw-tui-receiver.service").is_symlink()
    assert not (wants / "mw-tui-kiosk.service").exists()


def test_uninstall_keeps_studies_then_purge_removes_everything(installed: Installed,
                                                               tmp_path: Path) -> None:
    pristine = manifest(seed_root(tmp_path / "pristine"))
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(installed.root), str(root)], check=True)
    study = root / "var/lib/mw-tui/store/study.dcm"
    study.write_bytes(b"DICM")

    before = manifest(root)
    proc = run_script(installed.src, "uninstall.sh", "--root", str(root), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "would remove folder /opt/mw-tui/venv" in proc.stdout
    assert manifest_diff(before, manifest(root)) == []

    proc = run_script(installed.src, "uninstall.sh", "--root", str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert study.read_bytes() == b"DICM", "studies are kept without --purge"
    assert (root / "etc/mw-tui/config.toml").exists()
    for target in [f"/etc/systemd/system/{u}" for u in UNITS] + [
            "/etc/udev/rules.d/85-mw-tui.rules", "/etc/polkit-1/rules.d/50-mw-tui.rules",
            "/opt/mw-tui", "/usr/local/bin/mw-tui", "/usr/local/bin/mw-tui-attach",
            "/etc/systemd/system/multi-user.target.wants/mw-tui-kiosk.service"]:
        assert not (root / target.lstrip("/")).exists(), f"{target} is still there"
    assert (root / "etc/systemd/system/getty.target.wants/getty@tty1.service").is_symlink()

    proc = run_script(installed.src, "uninstall.sh", "--root", str(root), "--purge")
    assert proc.returncode != 0 and "--yes" in proc.stderr, "--purge asks first"
    assert study.exists()
    proc = run_script(installed.src, "uninstall.sh", "--root", str(root), "--purge", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = manifest(root)
    # back to the seed, except empty system folders install.sh made for its files and
    # the shadow tools' backup files (passwd-, group-, ...)
    extra = {p for p in left.keys() - pristine.keys()
             if not p.endswith("-") and not (root / p.lstrip("/")).is_dir()}
    assert not extra, f"left behind: {sorted(extra)}"
    for name in ("passwd", "group", "shadow", "gshadow"):
        assert (root / "etc" / name).read_bytes() == (
            tmp_path / "pristine/etc" / name).read_bytes(), f"/etc/{name} differs"
    dirs = {p for p in left.keys() - pristine.keys() if (root / p.lstrip("/")).is_dir()}
    assert not any("mw-tui" in d for d in dirs), dirs


def test_refuses_bad_input_with_a_message(installed: Installed, tmp_path: Path) -> None:
    cases = [
        (["--user", "Bad User"], "not a valid user or group name"),
        (["--prefix", "relative/path"], "must be an absolute path"),
        (["--font", "9x9"], "--font 9x9"),
        (["--root", str(tmp_path / "missing")], "is not a folder"),
        (["--frobnicate"], "unknown option"),
        (["--support-user", "nosuchuser", "--root", str(seed_root(tmp_path / "r"))],
         "no such user"),
    ]
    for args, message in cases:
        proc = run_script(installed.src, "install.sh", *args)
        assert proc.returncode != 0, args
        assert message in proc.stderr, (args, proc.stderr)


def test_root_editing_the_configuration_does_not_lock_the_station_out(
        installed: Installed, tmp_path: Path) -> None:
    """Root rewrites it (mw-tui admin-pin, an editor...): it stays the station's group
    and mode 0660, so the station can still read it and write it back."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(installed.root), str(root)], check=True)
    config = root / "etc/mw-tui/config.toml"
    python = root / "opt/mw-tui/venv/bin/python"
    proc = subprocess.run(
        [str(python), "-B", "-c", "import sys; from pathlib import Path; "
         "from mw_tui import config; f = config.ConfigFile(Path(sys.argv[1])); "
         "f.set('station', 'ae_title', 'EDITED'); f.save()", str(config)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    st = config.stat()
    assert st.st_uid == 0, "root wrote a new file"
    assert owner_names(root, st.st_uid, st.st_gid)[1] == "mwtui"
    assert st.st_mode & 0o777 == 0o660
