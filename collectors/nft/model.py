"""What an `nft -j list ruleset` dump holds: tables, chains, rules, sets, maps and stateful objects.

Rule statements and set elements stay the JSON values nft printed (dicts, lists, strings,
numbers): they are the ruleset's own vocabulary and the evaluator compiles them directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from collectors.errors import ParseWarning

# Families whose base chains see routed IPv4/IPv6 packets on the netfilter IP hooks.
IP_FAMILIES = ("ip", "ip6", "inet")
FAMILIES = ("ip", "ip6", "inet", "bridge", "netdev", "arp")


@dataclass(frozen=True, slots=True)
class NftRule:
    """One rule: its statements as nft printed them, its handle and its place in the chain."""

    family: str
    table: str
    chain: str
    position: int  # 1-based, in chain order
    handle: int | None
    expr: tuple[Any, ...]
    text: str
    comment: str | None = None
    path: str = ""
    line: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "table": self.table, "chain": self.chain,
                "position": self.position, "handle": self.handle, "text": self.text,
                "comment": self.comment}


@dataclass(frozen=True, slots=True)
class NftChain:
    """A base chain (type, hook, numeric priority, policy) or a regular chain (hook None)."""

    family: str
    table: str
    name: str
    handle: int | None
    type: str | None = None
    hook: str | None = None
    priority: int | None = None
    policy: str | None = None
    devices: tuple[str, ...] = ()
    rules: tuple[NftRule, ...] = ()
    comment: str | None = None

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True, slots=True)
class NftSet:
    """A named set or map: key type(s), data type for maps, flags and elements (JSON values)."""

    family: str
    table: str
    name: str
    handle: int | None
    key_types: tuple[str, ...]
    data_type: tuple[str, ...] | None = None  # maps only; ("verdict",) for verdict maps
    flags: tuple[str, ...] = ()
    elements: tuple[Any, ...] = ()
    timeout: int | None = None
    comment: str | None = None
    path: str = ""

    @property
    def is_map(self) -> bool:
        return self.data_type is not None

    @property
    def is_verdict_map(self) -> bool:
        return self.data_type == ("verdict",)


@dataclass(frozen=True, slots=True)
class NftObject:
    """A stateful object (counter, quota, limit, ct helper, flowtable, ...) with its fields."""

    kind: str
    family: str
    table: str
    name: str
    handle: int | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NftTable:
    """One table of one family with everything declared in it."""

    family: str
    name: str
    handle: int | None
    flags: tuple[str, ...] = ()
    chains: dict[str, NftChain] = field(default_factory=dict)
    sets: dict[str, NftSet] = field(default_factory=dict)
    objects: dict[tuple[str, str], NftObject] = field(default_factory=dict)
    comment: str | None = None

    @property
    def label(self) -> str:
        """`inet filter`: how nft names a table in listings and traces."""
        return f"{self.family} {self.name}"

    @property
    def dormant(self) -> bool:
        return "dormant" in self.flags


@dataclass(frozen=True, slots=True)
class Unmodelled:
    """An expression or statement the parser kept verbatim but does not know, with its place."""

    filename: str
    line: int
    path: str
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.path}: {self.kind}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.filename, "line": self.line, "path": self.path, "kind": self.kind,
                "text": self.text}


@dataclass(frozen=True, slots=True)
class NftRuleset:
    """Everything one `nft -j list ruleset` dump holds, plus what the parser did not know."""

    filename: str
    tables: dict[tuple[str, str], NftTable]
    version: str | None = None
    schema_version: int | None = None
    warnings: tuple[ParseWarning, ...] = ()
    unmodelled: tuple[Unmodelled, ...] = ()

    def chains(self) -> Iterator[NftChain]:
        for table in self.tables.values():
            yield from table.chains.values()

    def rules(self) -> Iterator[NftRule]:
        for chain in self.chains():
            yield from chain.rules

    def base_chains(self) -> Iterator[NftChain]:
        return (chain for chain in self.chains() if chain.is_base)

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains())
