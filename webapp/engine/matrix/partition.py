"""Classes of addresses treated alike (same destinations reached, same sources reaching them)
and the edges between them, from the accepted region over atoms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webapp.engine.matrix.space import Atoms, Interval, atoms_in, format_range
from webapp.engine.matrix.walk import Region
from webapp.engine.values import format_address


@dataclass(frozen=True, slots=True)
class AddressClass:
    """One class: named by its lowest address, with its ranges in address order."""

    family: int
    ranges: tuple[Interval, ...]

    @property
    def name(self) -> str:
        return format_address(self.family, self.ranges[0][0])

    def range_texts(self) -> list[str]:
        """Its ranges as `FIRST-LAST`."""
        return [format_range(self.family, r) for r in self.ranges]


@dataclass(frozen=True, slots=True)
class ServiceMatrix:
    """Classes of one or both families and the (from, to) class pairs that may connect."""

    classes: tuple[AddressClass, ...]
    edges: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The CLI's and the API's JSON shape."""
        return {"classes": {c.name: c.range_texts() for c in self.classes},
                "edges": [list(edge) for edge in self.edges]}

    def __str__(self) -> str:
        lines = ["classes:"]
        lines.extend(f"  {c.name}: {', '.join(c.range_texts())}" for c in self.classes)
        lines.append("edges:")
        lines.extend(f"  {a} -> {b}" for a, b in self.edges)
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def partition(atoms: Atoms, accepted: Region) -> tuple[list[AddressClass], list[tuple[str, str]]]:
    """The coarsest partition whose members have equal rows and columns, and its edges."""
    # Rows: source masks of a region are disjoint, so each entry is one row value.
    row_of = [0] * atoms.count
    for dmask, smask in accepted.items():
        for atom in atoms_in(smask):
            row_of[atom] = dmask
    # Columns: refine the destinations by every row, then name each block by its sources.
    blocks = [atoms.all]
    for dmask in accepted:
        refined = []
        for block in blocks:
            for part in (block & dmask, block & ~dmask):
                if part:
                    refined.append(part)
        blocks = refined
    col_of = [0] * atoms.count
    for block in blocks:
        sources = 0
        for dmask, smask in accepted.items():
            if block & dmask:
                sources |= smask
        for atom in atoms_in(block):
            col_of[atom] = sources
    members: dict[tuple[int, int], list[int]] = {}
    for atom in range(atoms.count):
        members.setdefault((row_of[atom], col_of[atom]), []).append(atom)
    classes: list[tuple[AddressClass, int, int]] = []
    for (row, _), group in members.items():
        mask = sum(1 << atom for atom in group)
        classes.append((AddressClass(atoms.family, tuple(atoms.intervals(mask))), mask, row))
    classes.sort(key=lambda item: item[0].ranges[0][0])
    edges = [(source.name, target.name)
             for source, _, row in classes for target, tmask, _ in classes if row & tmask]
    return [c for c, _, _ in classes], edges
