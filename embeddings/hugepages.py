"""Large arrays on transparent huge pages (2 MiB) where the kernel offers them.

gensim's skip-gram touches a random row of two ``(vocabulary, dim)`` float32 matrices for every
(center, context) pair and every negative sample. At a vocabulary of 1M and d = 128 each is
512 MB, i.e. 131,072 pages of 4 KiB: nearly every random row is also a TLB miss. On 2 MiB pages
the same matrices are 512 pages, which the second-level TLB holds.

:func:`huge_page_copy` copies an array into an anonymous private mapping advised
``MADV_HUGEPAGE`` (Linux's transparent huge pages in ``madvise`` mode), its length rounded up to
a multiple of 2 MiB so that the kernel can align it on a huge-page boundary. Where ``mmap`` has
no ``MADV_HUGEPAGE`` (not Linux, Python built without it) or the kernel refuses the advice, it
returns None and the caller keeps its ordinary array: same values, same results, 4 KiB pages.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["HUGE_PAGE_BYTES", "huge_page_copy", "huge_page_mode", "huge_page_bytes_of"]

#: size of a transparent huge page on x86-64 / arm64 with 4 KiB base pages
HUGE_PAGE_BYTES = 2 * 2**20
_THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def huge_page_mode() -> str:
    """The kernel's transparent-huge-page mode (``always``, ``madvise``, ``never``), or
    ``unavailable`` when there is no such setting (not Linux) or ``mmap`` lacks the advice."""
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return "unavailable"
    try:
        text = _THP_ENABLED.read_text(encoding="ascii")
    except OSError:
        return "unavailable"
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return "unavailable"


def huge_page_copy(arr: NDArray, min_bytes: int = HUGE_PAGE_BYTES) -> NDArray | None:
    """A C-contiguous copy of ``arr`` (same dtype and shape) in memory advised for huge pages.

    Returns None, and allocates nothing, when ``arr`` is smaller than ``min_bytes``, when the
    kernel's mode is ``never`` or unavailable, or when ``mmap`` / ``madvise`` fail: the caller
    then keeps ``arr``. The copy holds its mapping (freed when the last view is collected).
    """
    src = np.asarray(arr)
    if src.nbytes < max(int(min_bytes), 1) or huge_page_mode() in ("never", "unavailable"):
        return None
    size = -(-src.nbytes // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
    try:
        mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError, AttributeError):
        return None
    try:
        mm.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError, AttributeError):
        mm.close()
        return None
    out = np.frombuffer(mm, dtype=src.dtype, count=src.size).reshape(src.shape)
    out[...] = src  # first touch after the advice: the kernel backs it with huge pages
    return out


def huge_page_bytes_of(arr: NDArray) -> int | None:
    """Bytes of ``arr``'s mapping backed by transparent huge pages (``AnonHugePages`` of the
    mapping holding its first byte in ``/proc/self/smaps``), or None where that is unreadable."""
    addr = np.asarray(arr).__array_interface__["data"][0]
    try:
        lines = Path("/proc/self/smaps").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    inside = False
    for line in lines:
        head = line.split(" ", 1)[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= addr < hi
        elif inside and line.startswith("AnonHugePages:"):
            return int(line.split()[1]) * 1024
    return None
