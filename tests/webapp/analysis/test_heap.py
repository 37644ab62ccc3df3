"""The analysis heap: long-lived objects kept out of the collector's walks, cycles still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from webapp.analysis.heap import LongLivedHeap


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.collect()


def test_what_exists_when_the_heap_settles_is_left_out_of_collections() -> None:
    heap = LongLivedHeap(every=3600)
    heap.settled()  # the first time: a full collection, then the freeze
    kept = Node()
    heap.settled()
    alive = weakref.ref(kept)
    del kept

    gc.collect()

    assert gc.get_freeze_count() > 0
    assert alive() is not None  # frozen: a cycle dropped since waits for the next full one


def test_a_full_collection_when_it_is_due_frees_cycles_dropped_since() -> None:
    heap = LongLivedHeap(every=0)  # every settle is due
    heap.settled()
    dropped = Node()
    heap.settled()
    alive = weakref.ref(dropped)
    del dropped

    heap.settled()

    assert alive() is None


def test_nothing_is_collected_while_the_heap_is_built() -> None:
    heap = LongLivedHeap()
    with heap.building():
        during = gc.isenabled()

    assert not during
    assert gc.isenabled()
