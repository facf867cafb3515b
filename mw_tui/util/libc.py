"""C library functions Python's `os` module lacks (statfs, syncfs, sync_file_range,
renameat2, prctl, memcmp), loaded once through ctypes. Each is None where the C library
does not have it (the callers then go the portable way)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

AT_FDCWD = -100
RENAME_NOREPLACE = 1


@functools.cache
def _library() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


@functools.cache
def function(name: str, argtypes: tuple[Any, ...], restype: Any = ctypes.c_int) -> Any:
    """The C library's `name` with its argument and result types, or None (a function
    object of its own: another signature of the same function does not change it)."""
    library = _library()
    if library is None:
        return None
    try:
        fn = library[name]
    except AttributeError:
        return None
    fn.argtypes = list(argtypes)
    fn.restype = restype
    return fn
