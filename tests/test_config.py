"""The configuration file: lookup, validation messages, comments kept on write-back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mw_tui import config as cfg


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "mw_tui", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_default_text_is_valid_and_commented() -> None:
    text = cfg.default_text()
    config = cfg.loads(text)
    assert config.station.ae_title == "MW_TUI"
    assert config.station.port == 11112
    assert config.station.max_associations == 20
    assert config.station.max_pdu == 524288
    assert config.archives == ()
    for key in ("ae_title", "port", "storage", "max_associations", "max_pdu", "min_free_mb",
                "server_timeout", "client_timeout", "extra_transfer_syntaxes",
                "extra_sop_classes", "allowed_callers", "log_level"):
        line = next(i for i, t in enumerate(text.splitlines()) if t.startswith(f"{key} ="))
        assert text.splitlines()[line - 1].startswith("#"), f"{key} has no comment"


ISSUE_EXAMPLE = """
[station]
ae_title = "MW_TUI"
port = 11112
storage = "/var/lib/mw-tui/store"
max_associations = 20
max_pdu = 524288
min_free_mb = 1024
[[archives]]
name = "pacs"
ae_title = "PACS"
host = "10.0.0.5"
port = 104
"""


def test_the_documented_names_load() -> None:
    config = cfg.loads(ISSUE_EXAMPLE)
    assert config.archive("pacs").host == "10.0.0.5"
    assert config.archive("pacs").retrieve == "move"
    with pytest.raises(KeyError, match="no archive named 'x'"):
        config.archive("x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[station]\nport = 70000', "station.port = 70000: must be a TCP port from 1 to 65535"),
        ('[station]\nport = "104"', "station.port = '104': must be a whole number"),
        ('[station]\nae_title = "THIS_TITLE_IS_TOO_LONG"',
         "station.ae_title = 'THIS_TITLE_IS_TOO_LONG': must be an AE title of 1 to 16"),
        ('[station]\nae_title = "A\\\\B"', "must be an AE title of printable ASCII"),
        ('[station]\nmax_associations = 0', "station.max_associations = 0: must be a whole "
                                            "number from 1 to 1000"),
        ('[station]\nmax_pdu = 100', "station.max_pdu = 100: must be 0 (no limit) or a PDU"),
        ('[station]\nmin_free_mb = -1', "station.min_free_mb = -1"),
        ('[station]\nlog_level = "LOUD"', "station.log_level = 'LOUD': must be one of DEBUG"),
        ('[station]\nstorage = ""', "station.storage = '': must be a non-empty text"),
        ('[station]\nportt = 1', "station.portt: unknown key"),
        ('[dicom]\nserver_timeout = 0', "dicom.server_timeout = 0: must be seconds from 1"),
        ('[dicom]\nclient_timeout = true', "dicom.client_timeout = True: must be a number"),
        ('[dicom]\nextra_sop_classes = ["1.2.x"]', "dicom.extra_sop_classes = ['1.2.x']: must "
                                                   "be a list of valid UIDs (not '1.2.x')"),
        ('[dicom]\nextra_transfer_syntaxes = "1.2.3"', "must be a list of a text"),
        ('[dicom]\nallowed_callers = ["10.0.0.0/33"]', "dicom.allowed_callers"),
        ('[[archives]]\nname = "a"\nae_title = "A"', "archives[1].host: missing (required)"),
        ('[[archives]]\nname = "a"\nae_title = "A"\nhost = "h"\nretrieve = "fetch"',
         "archives[1].retrieve = 'fetch': must be one of 'move', 'get'"),
        ('[[archives]]\nname = "a b"\nae_title = "A"\nhost = "h"', "archives[1].name = 'a b'"),
        ('[[archives]]\nname = "a"\nae_title = "A"\nhost = "h"\n[[archives]]\nname = "a"\n'
         'ae_title = "B"\nhost = "h"', "the name 'a' is used twice"),
        ('[labels]\nprinter = "disc printer"', "labels.printer = 'disc printer': must be"),
        ('[labels]\noptions = ["fit"]', "must be a list of CUPS options such as"),
        ('[labels]\nprintable_inner_mm = 12\ninner_diameter_mm = 15',
         "[labels]: the diameters must grow"),
        ('[[publishers]]\nname = "r"', "publishers[1].folder: missing (required)"),
        ('[[publishers]]\nname = "r"\nfolder = "/j"\nkind = "rimage"',
         "publishers[1].kind = 'rimage': must be one of 'ptburn'"),
        ('[[publishers]]\nname = "r"\nfolder = "/j"\nclient_id = "' + "x" * 33 + '"',
         "must be 1 to 32 printable ASCII characters"),
        ('[[publishers]]\nname = "r"\nfolder = "/j"\nrobot_folder = "C:\\\\Aufträge"',
         "must be a path in printable ASCII"),
        ('[nonsense]\nx = 1', "[nonsense]: unknown section"),
        ('[station\n', "not valid TOML"),
    ],
)
def test_each_invalid_value_gets_its_named_error(text: str, expected: str) -> None:
    with pytest.raises(cfg.ConfigError) as info:
        cfg.loads(text)
    assert any(expected in e for e in info.value.errors), info.value.errors


LABELS_AND_PUBLISHERS = r"""
[labels]
printer = "discs"
options = ["media=Custom.120x120mm"]
[[publishers]]
name = "xrp"
folder = "/mnt/ptburn"
robot_folder = 'C:\PTBurnJobs'
"""


def test_labels_and_publishers_load() -> None:
    config = cfg.loads(LABELS_AND_PUBLISHERS)
    assert config.labels.printer == "discs" and config.labels.inner_diameter_mm == 15
    (robot,) = config.publishers
    assert (robot.kind, robot.robot_folder, robot.verify) == ("ptburn", "C:\\PTBurnJobs", True)


CLOUD_MCM = """
[[targets]]
name = "research"
url = "https://research.example.org/dicom-web"
%s
[mcm]
enabled = true
target = "cloud:research"
"""


def test_media_asked_for_over_dicom_never_go_identified_to_an_external_target() -> None:
    with pytest.raises(cfg.ConfigError) as info:
        cfg.loads(CLOUD_MCM % "")  # external = true by default
    assert any(e.startswith("[mcm] target = 'cloud:research': that target is external")
               for e in info.value.errors), info.value.errors
    assert cfg.loads(CLOUD_MCM % "external = false").mcm.target == "cloud:research"


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(cfg.ConfigError) as info:
        cfg.loads('[station]\nport = 0\nmax_pdu = 1\n[dicom]\nserver_timeout = -5')
    assert len(info.value.errors) == 3


def test_round_trip_keeps_comments_and_order(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    original = (
        "# Station of the radiology department, room 3\n"
        "[station]\n"
        "ae_title = \"RAD3\"  # agreed with the PACS team\n"
        "port = 11112\n"
        "\n"
        "# the big archive\n"
        "[[archives]]\n"
        "name = \"pacs\"\n"
        "ae_title = \"PACS\"\n"
        "host = \"10.0.0.5\"\n"
    )
    path.write_text(original)
    f = cfg.ConfigFile(path)
    f.set("station", "port", 11113)
    f.upsert("archives", "pacs", {"port": 4242})
    f.upsert("archives", "mini", {"ae_title": "MINI", "host": "10.0.0.6", "retrieve": "get"})
    config = f.save()
    text = path.read_text()
    assert "# Station of the radiology department, room 3" in text
    assert "# agreed with the PACS team" in text
    assert "# the big archive" in text
    assert text.index("ae_title = \"RAD3\"") < text.index("port = 11113")
    assert config.station.port == 11113
    assert config.archive("pacs").port == 4242
    assert config.archive("mini").retrieve == "get"
    assert cfg.load(path) == config


def test_an_invalid_edit_is_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[station]\nport = 11112\n")
    f = cfg.ConfigFile(path)
    f.set("station", "port", 0)
    with pytest.raises(cfg.ConfigError):
        f.save()
    assert path.read_text() == "[station]\nport = 11112\n"


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env = tmp_path / "a.toml", tmp_path / "b.toml"
    monkeypatch.setenv("MW_TUI_CONFIG", str(env))
    assert cfg.find_config(explicit) == explicit
    assert cfg.find_config(None) == env
    monkeypatch.delenv("MW_TUI_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(cfg, "SYSTEM_PATH", tmp_path / "etc.toml")
    assert cfg.find_config(None) is None
    (tmp_path / "xdg" / "mw-tui").mkdir(parents=True)
    (tmp_path / "xdg" / "mw-tui" / "config.toml").write_text("")
    assert cfg.find_config(None) == tmp_path / "xdg" / "mw-tui" / "config.toml"
    (tmp_path / "etc.toml").write_text("")
    assert cfg.find_config(None) == tmp_path / "etc.toml"


def test_missing_explicit_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(cfg.ConfigError, match="mw-tui config init"):
        cfg.load(tmp_path / "nope.toml")


def test_cli_config_init_and_check(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    assert run_cli("config", "init", str(path)).returncode == 0
    assert run_cli("config", "init", str(path)).returncode == 1  # refuses to overwrite
    ok = run_cli("--config", str(path), "config", "check")
    assert ok.returncode == 0 and "configuration OK" in ok.stdout
    path.write_text(path.read_text().replace("port = 11112", "port = 0"))
    bad = run_cli("--config", str(path), "config", "check")
    assert bad.returncode == 2
    assert "station.port = 0: must be a TCP port from 1 to 65535" in bad.stderr
    # the station refuses to start on it
    serve = run_cli("--config", str(path), "serve")
    assert serve.returncode == 2 and "does not start on an invalid configuration" in serve.stderr
    env_check = run_cli("config", "check", env={"MW_TUI_CONFIG": str(path)})
    assert env_check.returncode == 2
