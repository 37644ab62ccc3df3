"""Address intervals of one family and the atoms (elementary intervals) they cut the space into."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from webapp.engine.values import format_address

Interval = tuple[int, int]  # inclusive (first, last)


def space_end(family: int) -> int:
    """The last address of a family's space."""
    return (1 << (32 if family == 4 else 128)) - 1


def normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, merged, non-empty intervals."""
    merged: list[Interval] = []
    for first, last in sorted(i for i in intervals if i[0] <= i[1]):
        if merged and first <= merged[-1][1] + 1:
            if last > merged[-1][1]:
                merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def complement(intervals: Iterable[Interval], family: int) -> list[Interval]:
    """Every address of the family outside the intervals."""
    result: list[Interval] = []
    start = 0
    for first, last in normalize(intervals):
        if first > start:
            result.append((start, first - 1))
        start = last + 1
    if start <= space_end(family):
        result.append((start, space_end(family)))
    return result


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Addresses in both interval lists (each normalized)."""
    result: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        first, last = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if first <= last:
            result.append((first, last))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


def format_range(family: int, interval: Interval) -> str:
    """`FIRST-LAST` with addresses written the usual way."""
    return f"{format_address(family, interval[0])}-{format_address(family, interval[1])}"


class Atoms:
    """The elementary intervals between breakpoints; a set of atoms is an int bitmask."""

    def __init__(self, family: int, intervals: Iterable[Interval]) -> None:
        points = {0}
        for first, last in intervals:
            points.add(first)
            points.add(last + 1)
        end = space_end(family)
        self.family = family
        self.starts = sorted(p for p in points if p <= end)
        self.index = {p: i for i, p in enumerate(self.starts)}
        self.count = len(self.starts)
        self.all = (1 << self.count) - 1

    def mask(self, intervals: Iterable[Interval]) -> int:
        """The atoms covering the intervals exactly (their bounds are breakpoints)."""
        bits = 0
        for first, last in intervals:
            low = self.index[first]
            high = self.index.get(last + 1, self.count)
            bits |= ((1 << high) - 1) ^ ((1 << low) - 1)
        return bits

    def interval(self, atom: int) -> Interval:
        """First and last address of one atom."""
        last = self.starts[atom + 1] - 1 if atom + 1 < self.count else space_end(self.family)
        return self.starts[atom], last

    def atom_of(self, address: int) -> int:
        """The atom holding an address."""
        return bisect_right(self.starts, address) - 1

    def intervals(self, bits: int) -> list[Interval]:
        """A bitmask of atoms as merged intervals."""
        return normalize(self.interval(atom) for atom in atoms_in(bits))


def atoms_in(bits: int) -> list[int]:
    """Indices of the set bits, lowest first."""
    result = []
    text = bin(bits)[:1:-1]
    position = text.find("1")
    while position >= 0:
        result.append(position)
        position = text.find("1", position + 1)
    return result
