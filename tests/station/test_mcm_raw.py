"""Media Creation Management requests no real RIS would send, byte for byte (the raw SCU
of tests/rawscu.py): each malformed request gets a failure status and the association
goes on; a command set that cannot be read ends the association, and the station takes
the next one."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from mw_tui.dicom import wire
from mw_tui.standard import sop, status
from mw_tui.station import Station
from tests.rawscu import associate, n_request_rq
from tests.station.test_mcm import mcm_config

MCM = sop.MEDIA_CREATION_MANAGEMENT
N_GET, N_SET, N_ACTION, N_CREATE = 0x0110, 0x0120, 0x0130, 0x0140
LE = "1.2.840.10008.1.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    s = Station(mcm_config(tmp_path, allowed_callers=["RAWSCU"]), watch_devices=False)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element (short form)."""
    return struct.pack("<HH", group, elem) + vr + struct.pack("<H", len(value)) + value


def test_malformed_requests_get_failure_statuses_and_the_association_goes_on(
        station: Station) -> None:
    assoc = associate(station.receiver.port, [(1, MCM, [LE])])
    assert assoc.accepted == {1: LE}
    try:
        # a data set whose element runs past its end
        cut = struct.pack("<HH", 0x0040, 0xA30A) + b"DS" + struct.pack("<H", 200) + b"1.5 "
        got = assoc.exchange(1, n_request_rq(N_CREATE, 1, MCM, with_dataset=True), cut)
        assert got == status.PROCESSING_FAILURE
        # an N-CREATE without any attribute list
        assert assoc.exchange(1, n_request_rq(N_CREATE, 2, MCM)) == status.MISSING_ATTRIBUTE
        # a request that references nothing
        empty = element(0x2200, 0x0001, b"US", struct.pack("<H", 1))
        got = assoc.exchange(1, n_request_rq(N_CREATE, 3, MCM, with_dataset=True), empty)
        assert status.is_failure(got), hex(got)
        # an action the service does not have, and one without its request
        got = assoc.exchange(1, n_request_rq(N_ACTION, 4, MCM, "1.2.3.4", action_type=7))
        assert got == status.NO_SUCH_ACTION
        got = assoc.exchange(1, n_request_rq(N_ACTION, 5, MCM, action_type=1))
        assert got == status.MISSING_ATTRIBUTE_VALUE
        # an operation the service does not have; a request it never made
        assert assoc.exchange(1, n_request_rq(N_SET, 6, MCM, "1.2.3.4", with_dataset=True),
                              element(0x2000, 0x0010, b"IS", b"2 ")) == \
            status.UNRECOGNIZED_OPERATION
        assert assoc.exchange(1, n_request_rq(N_GET, 7, MCM, "1.2.3.4")) == \
            status.NO_SUCH_SOP_INSTANCE
        # another SOP class named on the Media Creation Management context
        assert assoc.exchange(1, n_request_rq(N_GET, 8, CT, "1.2.3.4")) == \
            status.NO_SUCH_SOP_CLASS
    finally:
        assoc.release()


def test_a_command_set_that_cannot_be_read_ends_only_its_association(
        station: Station) -> None:
    assoc = associate(station.receiver.port, [(1, MCM, [LE])])
    garbage = struct.pack("<HHI", 0, 0x0000, 4) + struct.pack("<I", 400)  # length lies
    assoc.send(wire.p_data(1, 0x03, garbage))
    pdu_type, _ = assoc.read_pdu()
    assert pdu_type == wire.A_ABORT
    assoc.sock.close()
    stray = associate(station.receiver.port, [(1, MCM, [LE])])
    stray.send(wire.p_data(1, 0x03, n_request_rq(N_SET, 1, MCM, "1.2.3.4")))  # no data set
    stray.send(wire.p_data(1, 0x02, element(0x2000, 0x0010, b"IS", b"2 ")))  # ...but one
    assert stray.read_pdu()[0] == wire.P_DATA_TF  # the answer to the N-SET
    assert stray.read_pdu()[0] == wire.A_ABORT  # a data set nobody announced
    stray.sock.close()
    again = associate(station.receiver.port, [(1, MCM, [LE])])  # the next one is served
    try:
        assert again.exchange(1, n_request_rq(N_GET, 1, MCM, "1.2.3.4")) == \
            status.NO_SUCH_SOP_INSTANCE
    finally:
        again.release()
