"""What rule evaluation asks of ipsets: a packet side per flag and a three-valued lookup."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from collectors.ipset import Interface

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# The MAC of a packet that has no MAC header (locally generated, before it is sent).
NO_MAC: Final = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a packet as a `src` or `dst` flag selects it; mark is packet-wide."""

    address: Address | tuple[int, int | None] | None = None
    port: tuple[int, int | None] | None = None
    mac: str | None = None
    iface: str | Interface | None = None
    mark: int | None = None


class SetLookup:
    """The sets of one host as the evaluator sees them."""

    def dimensions(self, name: str) -> tuple[str, ...] | None:  # pragma: no cover - interface
        raise NotImplementedError

    def lookup(self, name: str, values: Sequence[object],
               return_nomatch: bool = False) -> bool | None:  # pragma: no cover - interface
        raise NotImplementedError
