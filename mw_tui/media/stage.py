"""A volume laid out as a folder tree (USB sticks, `mw-tui build --dir`)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from mw_tui.media.volume import Volume

Progress = Callable[[int, int], None]


class StageError(Exception):
    """The tree cannot be written; the message says why."""


def stage_tree(volume: Volume, directory: Path | str, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> Path:
    """Copy every file of `volume` under `directory` (created, or existing and empty) with
    its path on the medium; returns the directory. Raises StageError."""
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise StageError(f"{root} is not empty: choose an empty or new folder")
        total = volume.size
        done = 0
        for f in volume.files:
            if cancel is not None and cancel.is_set():
                raise StageError("copying the files was cancelled")
            dest = root.joinpath(*f.dest.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            if f.data is None and f.offset is None:
                assert f.source is not None
                shutil.copyfile(f.source, dest)
            else:  # generated, or a picture of a pack file
                with open(dest, "wb") as out:
                    for chunk in f.chunks():
                        out.write(chunk)
            done += f.size
            if progress is not None:
                progress(done, total)
    except OSError as exc:
        raise StageError(f"cannot write {root}: {exc.strerror or exc}") from exc
    return root

