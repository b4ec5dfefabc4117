"""keliu.service.heap: freed memory really goes back to the system, and the trimmer thread starts,
trims and stops (this machine's C library is glibc)."""

from __future__ import annotations

import time

from keliu.service.heap import HeapTrimmer, resident_mib, trim_heap


def test_trimming_returns_memory_freed_below_a_live_block() -> None:
    # 2 KiB blocks come from malloc's heap (not mmap); keeping the last one alive pins the heap's top,
    # so freeing the others returns nothing to the system by itself: only a trim does
    blocks = [bytes(2048) for _ in range(100_000)]  # ~200 MiB
    last = blocks[-1]
    before_free = resident_mib()
    del blocks
    freed_alone = resident_mib()
    assert trim_heap() is True
    trimmed = resident_mib()
    assert before_free is not None and freed_alone is not None and trimmed is not None
    assert freed_alone - trimmed > 100, (before_free, freed_alone, trimmed)
    assert len(last) == 2048  # still alive, untouched


def test_the_trimmer_trims_every_interval_and_stops() -> None:
    trimmer = HeapTrimmer(every_s=0.05)
    trimmer.start()
    deadline = time.monotonic() + 10
    while trimmer.trims < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    trimmer.stop()
    assert trimmer.trims >= 3
    stopped_at = trimmer.trims
    time.sleep(0.2)
    assert trimmer.trims == stopped_at  # no thread left behind
