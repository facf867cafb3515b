"""Reading xorriso's output (lines as xorriso 1.5.4 prints them)."""

from __future__ import annotations

from mw_tui.devices.models import MediaState, MediaType
from mw_tui.devices.writers import xorriso as xo
from mw_tui.devices.writers.base import Meter, Phase, Progress

BLANK_STDIO = """\
Drive current: -outdev 'stdio:/dev/loop0'
Media current: stdio file, overwriteable
Media status : is blank
Media blocks : 0 readable , 4096 writable , 4096 overall
Media summary: 0 sessions, 0 data blocks, 0 data, 8128k free
Media space  : 4064s
After commit : 4064s
"""
CLOSED_CD = """\
Drive current: -outdev '/dev/sr0'
Media current: CD-R
Media status : is written , is closed
Media summary: 1 session, 1649 data blocks, 3298k data, 0 free
Media space  : 0s
"""
RW_WRITTEN = """\
Media current: DVD+RW
Media status : is written , is appendable
Media summary: 1 session, 1493 data blocks, 2986k data, 4.4g free
"""
EMPTY_DRIVE = """\
Drive current: -outdev '/dev/sr0'
Media current: is not present
Media status : is not present
"""


def test_media_status() -> None:
    s = xo.parse_status(BLANK_STDIO)
    assert (s.state, s.free_sectors, s.rewritable, s.name) == (MediaState.BLANK, 4064, True,
                                                               "disc")
    s = xo.parse_status(CLOSED_CD)
    assert (s.state, s.used_sectors, s.rewritable) == (MediaState.COMPLETE, 1649, False)
    assert s.media_type is MediaType.CD and s.name == "CD-R"
    s = xo.parse_status(RW_WRITTEN)
    assert (s.state, s.rewritable, s.media_type) == (MediaState.APPENDABLE, True, MediaType.DVD)
    assert xo.parse_status(EMPTY_DRIVE).state is MediaState.NONE
    assert xo.parse_status("").state is MediaState.NONE


def test_progress_lines() -> None:
    p = xo.parse_progress(
        "xorriso : UPDATE :   48 of  289 MB written (fifo 99%) [buf  50%]  27.7x.", 0)
    assert p is not None and p.done == 48 << 20 and p.total == 289 << 20
    assert p.speed == 27.7 * 176_400
    p = xo.parse_progress(
        "xorriso : UPDATE :    3 of  289 MB written (fifo 99%) [buf  50%]", 300_000_000)
    assert p is not None and p.total == 300_000_000 and p.speed is None
    p = xo.parse_progress("xorriso : UPDATE : Writing:       8192s   55.2%   fifo 100%  buf  "
                          "50%    4.0xD ", 10_000)
    assert p is not None and p.done == 5520 and p.speed == 4.0 * 1_385_000
    assert xo.parse_progress("Media status : is blank", 1) is None
    assert xo.parse_blank_progress("xorriso : UPDATE : Blanking  ( 12.5% done in 3 seconds )"
                                   ) == 12.5


def test_failures_are_collected_without_the_abort_notice() -> None:
    out = ("xorriso : FAILURE : Image size 1824s exceeds free space on media 1024s\n"
           "xorriso : NOTE : Gave up -outdev ''\n"
           "xorriso : FAILURE : -as cdrecord: Job could not be performed properly.\n"
           "xorriso : aborting : -abort_on 'FAILURE' encountered 'FAILURE'\n")
    assert xo.problems(out) == ["Image size 1824s exceeds free space on media 1024s",
                                "-as cdrecord: Job could not be performed properly."]


def test_addresses() -> None:
    assert xo.address("/dev/sr0") == "/dev/sr0"
    assert xo.address("/dev/loop3") == "stdio:/dev/loop3"
    assert xo.address("stdio:/tmp/x.iso") == "stdio:/tmp/x.iso"
    assert xo.is_mmc("/dev/sr1") and not xo.is_mmc("/dev/loop0")


def test_the_meter_computes_speed_and_time_left() -> None:
    seen: list[Progress] = []
    meter = Meter(Phase.WRITING, 1000, seen.append, interval=0)
    meter.start -= 2.0  # two seconds ago
    meter.update(500)
    (p,) = seen
    assert p.percent == 50.0
    assert p.speed is not None and 240 < p.speed <= 250
    assert p.seconds_left is not None and 1.9 < p.seconds_left < 2.1


def test_every_problem_becomes_a_typed_error() -> None:
    from mw_tui.devices.writers import base

    for code in base.ProblemCode:
        problem = base.Problem(code, f"what to do about {code}", base.Remedy.RETRY)
        error = base.error_for(problem)
        assert isinstance(error, base.WriterError)
        assert error.problem == problem and str(error) == problem.message
    error = base.error_for(base.Problem(base.ProblemCode.MEDIA_NOT_BLANK, "x"))
    assert error.code is base.ProblemCode.MEDIA_NOT_BLANK
    assert error.problem.remedy is base.Remedy.NEW_MEDIA  # the code's remedy by default
