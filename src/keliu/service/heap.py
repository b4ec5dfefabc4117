"""Give memory the process has freed back to the operating system, every minute (glibc ``malloc_trim``).

A service that runs for months allocates and frees all day: decoded frames and detector tensors,
query results, the web UI's pages. glibc keeps what was freed in its arenas (one per thread that
allocated) for reuse and returns it to the system only from the top of a heap, so the resident
memory of a long-running ``keliu serve`` creeps up with the traffic although nothing holds it
(docs/benchmarks.md, "Web UI": 20 reception consoles and 5 big screens). :class:`HeapTrimmer`
calls ``malloc_trim(0)`` on its own thread now and then, which hands every free page back.

Must not: free or touch anything Python holds (it only returns pages glibc already considers free),
run on the event loop (a trim walks every arena: milliseconds), or fail where the C library is not
glibc (musl, macOS): there it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from functools import cache

__all__ = ["HeapTrimmer", "resident_mib", "trim_heap"]

log = logging.getLogger(__name__)

TRIM_EVERY_S = 60.0


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def trim_heap() -> bool:
    """Return the free pages of every malloc arena to the system now; False where there is no glibc."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_mib() -> float | None:
    """The process's resident memory (VmRSS) in MiB; None where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class HeapTrimmer:
    """Trims the heap every ``every_s`` seconds on a daemon thread between :meth:`start` and
    :meth:`stop`; ``trims`` counts them and ``freed_mib`` adds up the resident memory they gave back."""

    def __init__(self, every_s: float = TRIM_EVERY_S) -> None:
        if every_s <= 0:
            raise ValueError(f"every_s must be positive, got {every_s}")
        self.every_s = every_s
        self.trims = 0
        self.freed_mib = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or _malloc_trim() is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="keliu-heap-trim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            before = resident_mib()
            trim_heap()
            after = resident_mib()
            self.trims += 1
            if before is not None and after is not None and before > after:
                self.freed_mib += before - after
                log.debug("heap trimmed: resident %.1f → %.1f MiB", before, after)
