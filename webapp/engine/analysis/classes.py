"""Equivalence classes of addresses: sorted fleet addresses cut where a host's atoms change."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from webapp.engine.analysis.atoms import Atom


@dataclass(frozen=True, slots=True)
class AddressIndex:
    """The live workloads of one IP version, sorted by address (duplicates kept)."""

    family: int
    addresses: tuple[int, ...]
    texts: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def build(cls, family: int, entries: Sequence[tuple[int, str, str]]) -> AddressIndex:
        ordered = sorted(entries)
        return cls(family, tuple(e[0] for e in ordered), tuple(e[1] for e in ordered),
                   tuple(e[2] for e in ordered))

    def positions(self, name: str) -> int:
        return self.names.index(name)


@dataclass(frozen=True, slots=True)
class Partition:
    """Index ranges of an AddressIndex, each with a class id: `starts[i]` begins class
    `classes[i]`, which runs to the next start. Class 0 holds addresses no atom names."""

    starts: tuple[int, ...]
    classes: tuple[int, ...]
    count: int
    signatures: tuple[frozenset[Hashable], ...] = (frozenset(),)  # class id -> identities

    def class_of(self, position: int) -> int:
        return self.classes[bisect_right(self.starts, position) - 1]

    def ranges(self) -> list[tuple[int, int, int]]:
        """(first position, end position, class id) for every non-empty run."""
        out = []
        for i, start in enumerate(self.starts):
            end = self.starts[i + 1] if i + 1 < len(self.starts) else self.count
            if end > start:
                out.append((start, end, self.classes[i]))
        return out


def partition(index: AddressIndex, atoms: Sequence[Atom]) -> tuple[Partition, list[int]]:
    """Classes of the index's addresses under `atoms`, and one representative position per
    class (class ids count from 0, the class of addresses no atom names, in first-seen order).

    A sweep over the atoms' boundaries gives every elementary interval the set of identities
    covering it; intervals with equal sets form one class. The work depends on the number of
    atoms and of runs, not on how many addresses an atom covers."""
    count = len(index.addresses)
    if not atoms or not count:
        return Partition((0,), (0,), count), [0] if count else []
    events: dict[int, list[tuple[int, Hashable]]] = {}
    for first, last, ident in atoms:
        events.setdefault(first, []).append((1, ident))
        events.setdefault(last + 1, []).append((-1, ident))
    active: dict[Hashable, int] = {}
    ids: dict[frozenset[Hashable], int] = {frozenset(): 0}
    starts: list[int] = [0]
    classes: list[int] = [0]
    representatives: dict[int, int] = {}
    addresses = index.addresses
    for point in sorted(events):
        for delta, ident in events[point]:
            value = active.get(ident, 0) + delta
            if value:
                active[ident] = value
            else:
                active.pop(ident, None)
        position = bisect_left(addresses, point)
        signature = frozenset(active)
        class_id = ids.setdefault(signature, len(ids))
        if classes[-1] == class_id:
            continue
        if starts[-1] == position:
            starts.pop()
            classes.pop()
            if classes and classes[-1] == class_id:
                continue
        starts.append(position)
        classes.append(class_id)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
        classes.insert(0, 0)
    by_id = sorted(ids, key=ids.__getitem__)
    result = Partition(tuple(starts), tuple(classes), count, tuple(by_id))
    for start, _end, class_id in result.ranges():
        representatives.setdefault(class_id, start)
    reps = [representatives.get(i, -1) for i in range(len(ids))]
    return result, reps
