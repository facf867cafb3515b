"""Media content: DICOM File-sets per profile, DICOMDIR, IHE PDI pages, ISO images.

`build_volumes()` makes the volumes of a job (several when it does not fit on one medium),
with web pages that show the images (`Volume.web_images`, `Volume.label_kind`: DICOM PLUS
WEB or DICOM ONLY); `write_iso()` writes a volume's ISO 9660 image with its md5;
`stage_tree()` lays a volume out as a folder. Plain Python: progress by callback, cancel
with a `threading.Event`.
"""

from mw_tui.media.builder import (
    BuildCancelled,
    BuildError,
    BuildProgress,
    BuildStage,
    build_volumes,
)
from mw_tui.media.iso import IsoCancelled, IsoError, write_iso
from mw_tui.media.profiles import MEDIA, Medium, Profile, parse_profile, parse_size
from mw_tui.media.stage import StageError, stage_tree
from mw_tui.media.volume import Volume, VolumeFile, WebImages

__all__ = [
    "MEDIA",
    "BuildCancelled",
    "BuildError",
    "BuildProgress",
    "BuildStage",
    "IsoCancelled",
    "IsoError",
    "Medium",
    "Profile",
    "StageError",
    "Volume",
    "VolumeFile",
    "WebImages",
    "build_volumes",
    "parse_profile",
    "parse_size",
    "stage_tree",
    "write_iso",
]
