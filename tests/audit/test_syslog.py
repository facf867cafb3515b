"""Syslog messages as RFC 5424 lays them out, framed as RFC 5425 counts them."""

from __future__ import annotations

import datetime

from mw_tui.audit.syslog import BOM, header_field, octet_counted, syslog_message
from tests.audit import reading as r

AT = datetime.datetime(2026, 1, 26, 15, 30, 5, 123456,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
XML = '<?xml version="1.0" encoding="UTF-8"?><AuditMessage a="Müller"/>'


def test_header_fields_and_the_bom() -> None:
    message = syslog_message(XML, hostname="station.example.org", at=AT, procid=4242)
    assert message.startswith(b"<85>1 2026-01-26T15:30:05.123456+01:00 station.example.org "
                              b"mw-tui 4242 IHE+RFC-3881 - " + BOM + b"<?xml")
    parsed = r.syslog(message)
    assert parsed.xml == XML
    assert (parsed.pri, parsed.msgid, parsed.sd) == (85, "IHE+RFC-3881", "-")


def test_a_failure_is_a_warning() -> None:
    assert syslog_message(XML, hostname="h", at=AT, procid=1, severity=4).startswith(b"<84>1 ")


def test_header_fields_are_printable_ascii_within_their_limits() -> None:
    assert header_field("", 48) == "-"
    assert header_field("stätion 1", 255) == "st_tion_1"
    assert header_field("x" * 300, 255) == "x" * 255
    naive = datetime.datetime(2026, 1, 26, 15, 30)
    parsed = r.syslog(syslog_message(XML, hostname="h ost", at=naive, procid=""))
    assert parsed.hostname == "h_ost" and parsed.procid == "-"
    assert r.TIMESTAMP.match(parsed.timestamp)


def test_octet_counting_counts_bytes() -> None:
    message = syslog_message(XML, hostname="h", at=AT, procid=1)
    framed = octet_counted(message)
    length, _, rest = framed.partition(b" ")
    assert int(length) == len(rest) == len(message)
    assert len(message) > len(message.decode("utf-8"))  # non-ASCII counted in bytes
