"""The analysis process's heap. A fleet's graph and compiled hosts are millions of long-lived
objects, and Python's cyclic collector walks every one of them at each full collection: under
load, half of the analysis worker's samples were such walks, set off by whatever allocated next.
No collection runs while a graph is built or updated; then what exists is moved out of the
collector's walks (gc.freeze); a full collection of everything runs at most every few minutes,
so that cycles dropped since are still freed."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Lock

FULL_COLLECTION_SECONDS = 600.0


class LongLivedHeap:
    """Freezes the heap once it settles; collects it all when `every` seconds have passed."""

    def __init__(self, every: float = FULL_COLLECTION_SECONDS) -> None:
        self.every = every
        self._last_full: float | None = None
        self._lock = Lock()

    @contextmanager
    def building(self) -> Iterator[None]:
        """No collections while long-lived structures are built: each would walk all that is
        built so far (a fleet's graph took 27 s of its 75 s in such walks)."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if enabled:
                gc.enable()

    def settled(self) -> None:
        """Call when the long-lived structures were built or changed (a new fleet graph)."""
        with self._lock:
            now = time.monotonic()
            if self._last_full is None or now - self._last_full >= self.every:
                gc.unfreeze()
                gc.collect()
                self._last_full = now
            gc.freeze()


HEAP = LongLivedHeap()
