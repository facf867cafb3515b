"""ImageFile: an image whose data never reached the first file's extent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mw_tui.media.imagefile import ImageFile


@pytest.mark.parametrize("read_back", [False, True])
def test_an_image_of_metadata_only_keeps_it_and_is_not_stamped(tmp_path: Path,
                                                               read_back: bool) -> None:
    """Nothing written at or past the data start: finish must not zero-fill the image from
    its start (over the metadata) nor count it as read back; it hashes it by reading."""
    path = tmp_path / "raw"
    w = ImageFile(path, lambda: 4096, read_back)
    w.seek(2048)
    w.write(b"directory")
    w.seek(100)
    w.write(b"descriptor")
    digest = w.finish()
    assert not w.in_order and w.verified == 0  # write_iso stamps only when verified == size
    w.close()
    raw = path.read_bytes()
    assert len(raw) == w.end == 2057
    assert raw[100:110] == b"descriptor" and raw[2048:2057] == b"directory"
    assert raw[:100] == bytes(100)
    assert digest == hashlib.md5(raw).hexdigest()
