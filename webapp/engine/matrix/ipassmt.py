"""fffuu's interface assumption (`--ipassmt`): which source addresses each input interface has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from webapp.engine.matrix.space import Interval, complement, intersect, normalize
from webapp.engine.values import ValueParseError, interface_matches, parse_address, parse_cidr

_LINE = re.compile(r"^\s*([^\s=]+)\s*=\s*(all_but_those_ips\s*)?\[(.*)\]\s*$")
DEFAULT_IPASSMT = {4: "lo = [127.0.0.0/8]", 6: "lo = [::1/128]"}


@dataclass(frozen=True, slots=True)
class InterfaceAssumption:
    """Per interface, the source ranges of one family that may arrive on it."""

    family: int
    ranges: dict[str, list[Interval]]

    def named(self, pattern: str) -> list[str]:
        """The listed interfaces an `-i` pattern names (itself, or those a `+` wildcard covers)."""
        return [name for name in self.ranges
                if name == pattern or interface_matches(pattern, name)]

    def ranges_of(self, pattern: str) -> list[Interval]:
        """The source ranges of every listed interface the pattern names."""
        return normalize(r for name in self.named(pattern) for r in self.ranges[name])

    def disjoint(self) -> bool:
        """Whether no two interfaces share a source address."""
        names = list(self.ranges)
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                if intersect(self.ranges[first], self.ranges[second]):
                    return False
        return True


def parse_ipassmt(text: str, family: int, filename: str = "<ipassmt>") -> InterfaceAssumption:
    """Read `IFACE = [A, A/LEN, A-B]` or `IFACE = all_but_those_ips [...]` entries (`#` comments;
    a list may span lines); addresses of the other family are skipped, host bits of a prefix
    ignored."""
    ranges: dict[str, list[Interval]] = {}
    for lineno, line in _entries(text, filename):
        found = _LINE.match(line)
        if found is None:
            raise ValueParseError(f"{filename}:{lineno}: expected IFACE = [ranges]")
        name, all_but, body = found.groups()
        intervals = []
        for item in (part.strip() for part in body.split(",")):
            if item:
                interval = _interval(item, f"{filename}:{lineno}")
                if interval[0] == family:
                    intervals.append(interval[1:])
        listed = ranges.setdefault(name, [])
        listed.extend(complement(intervals, family) if all_but else intervals)
    return InterfaceAssumption(family, {k: normalize(v) for k, v in ranges.items()})


def _entries(text: str, filename: str) -> Iterator[tuple[int, str]]:
    """Each entry with the number of its first line, its lines joined up to the closing `]`."""
    start = 0
    parts: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not parts:
            start = lineno
        parts.append(line)
        if "]" in line:
            yield start, " ".join(parts)
            parts = []
    if parts:
        raise ValueParseError(f"{filename}:{start}: expected IFACE = [ranges]")


def _interval(item: str, where: str) -> tuple[int, int, int]:
    """(family, first, last) of `A`, `A/LEN` or `A-B`."""
    try:
        if "-" in item:
            low, high = item.split("-", 1)
            family, first = parse_address(low.strip())
            family_high, last = parse_address(high.strip())
            if family != family_high or last < first:
                raise ValueParseError(f"bad range {item!r}")
            return family, first, last
        family, first, _, last = parse_cidr(item)
        return family, first, last
    except ValueParseError as exc:
        raise ValueParseError(f"{where}: {exc}") from None
