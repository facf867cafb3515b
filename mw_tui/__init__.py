"""mw-tui: a DICOM media writer station."""

import os

__version__ = "0.1.0"

# Generated once (2.25 + a UUID as an integer) and never changed: identifies this
# implementation in every association and every file it writes (PS3.7 D.3.3.2).
IMPLEMENTATION_CLASS_UID = "2.25.164858344470730925883278414354167104446"
IMPLEMENTATION_VERSION_NAME = "MW_TUI_010"  # at most 16 characters

# numpy (imported with pydicom's pixel handlers) starts an OpenBLAS thread per CPU that
# spins for a tenth of a second of CPU; the station does no linear algebra, and every
# process (a burn, the receiver's workers) would pay it while the archive needs the CPU
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
