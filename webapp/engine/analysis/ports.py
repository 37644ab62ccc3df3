"""Sets of (protocol, port range) as the graph and the intent speak of them: `tcp/22`, `icmp`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

# Protocols the graph evaluates; `icmp` stands for echo requests (ICMPv6 echo for IPv6).
GRAPH_PROTOCOLS = ("tcp", "udp", "icmp")
PORT_PROTOCOLS = ("tcp", "udp", "sctp")
FULL = ((0, 65535),)
_TEXT_ORDER = {p: i for i, p in enumerate(("tcp", "udp", "sctp", "icmp"))}


def _merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            if high > out[-1][1]:
                out[-1] = (out[-1][0], high)
        else:
            out.append((low, high))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PortSet:
    """Per protocol, disjoint sorted inclusive port ranges; icmp is present as (0, 65535)."""

    ranges: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, Iterable[tuple[int, int]]]) -> PortSet:
        items = []
        for proto in sorted(mapping):
            merged = _merge(mapping[proto])
            if merged:
                items.append((proto, FULL if proto == "icmp" else merged))
        return cls(tuple(items))

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PortSet:
        """`["tcp/22", "tcp/8000-8100", "icmp"]` as a PortSet."""
        mapping: dict[str, list[tuple[int, int]]] = {}
        for text in texts:
            proto, _, span = str(text).lower().partition("/")
            if proto == "icmp":
                mapping.setdefault("icmp", []).append((0, 65535))
                continue
            low, _, high = span.partition("-")
            mapping.setdefault(proto, []).append((int(low), int(high or low)))
        return cls.of(mapping)

    @classmethod
    def everything(cls, protocols: Iterable[str] = GRAPH_PROTOCOLS) -> PortSet:
        return cls.of({p: FULL for p in protocols})

    def as_dict(self) -> dict[str, tuple[tuple[int, int], ...]]:
        return dict(self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __or__(self, other: PortSet) -> PortSet:
        if not other.ranges:
            return self
        if not self.ranges:
            return other
        mapping: dict[str, list[tuple[int, int]]] = {}
        for proto, spans in (*self.ranges, *other.ranges):
            mapping.setdefault(proto, []).extend(spans)
        return PortSet.of(mapping)

    def __and__(self, other: PortSet) -> PortSet:
        mine, theirs = self.as_dict(), other.as_dict()
        mapping: dict[str, list[tuple[int, int]]] = {}
        for proto in mine.keys() & theirs.keys():
            mapping[proto] = list(_intersect(mine[proto], theirs[proto]))
        return PortSet.of(mapping)

    def __sub__(self, other: PortSet) -> PortSet:
        theirs = other.as_dict()
        mapping: dict[str, list[tuple[int, int]]] = {}
        for proto, spans in self.ranges:
            mapping[proto] = list(_subtract(spans, theirs.get(proto, ())))
        return PortSet.of(mapping)

    def restricted(self, protocols: Iterable[str]) -> PortSet:
        keep = set(protocols)
        return PortSet(tuple(item for item in self.ranges if item[0] in keep))

    def contains(self, proto: str, port: int | None) -> bool:
        for name, spans in self.ranges:
            if name == proto:
                return proto == "icmp" or port is None or any(lo <= port <= hi
                                                               for lo, hi in spans)
        return False

    def count(self) -> int:
        """Number of (protocol, port) values, icmp counting one."""
        return sum(1 if proto == "icmp" else sum(hi - lo + 1 for lo, hi in spans)
                   for proto, spans in self.ranges)

    def texts(self) -> list[str]:
        """Sorted, merged texts: `tcp/22`, `tcp/8000-8100`, `udp/53`, `icmp`."""
        return list(_texts(self.ranges))

    def __str__(self) -> str:
        return ", ".join(self.texts()) or "(nothing)"


@lru_cache(maxsize=4096)
def _texts(ranges: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]) -> tuple[str, ...]:
    # A fleet's edges share a few hundred port sets: each is written out once.
    out = []
    for proto, spans in sorted(ranges, key=lambda item: (_TEXT_ORDER.get(item[0], 9), item[0])):
        if proto == "icmp":
            out.append("icmp")
            continue
        out.extend(f"{proto}/{low}" if low == high else f"{proto}/{low}-{high}"
                   for low, high in spans)
    return tuple(out)


def _intersect(a: tuple[tuple[int, int], ...],
               b: tuple[tuple[int, int], ...]) -> Iterator[tuple[int, int]]:
    i = j = 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if low <= high:
            yield low, high
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1


def _subtract(a: tuple[tuple[int, int], ...],
              b: tuple[tuple[int, int], ...]) -> Iterator[tuple[int, int]]:
    for low, high in a:
        for cut_low, cut_high in b:
            if cut_high < low or cut_low > high:
                continue
            if cut_low > low:
                yield low, cut_low - 1
            low = cut_high + 1
            if low > high:
                break
        if low <= high:
            yield low, high


EMPTY = PortSet()
