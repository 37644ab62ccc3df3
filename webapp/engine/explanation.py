"""What `explain` answers: the verdict, the rule that decided it, and the trace that led there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    """The rule (or chain policy) whose verdict was the packet's fate."""

    table: str
    chain: str
    rule_number: int | None = None
    line: int | None = None
    policy: bool = False
    family: str | None = None  # nftables only
    handle: int | None = None  # nftables only

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.family is not None:
            out["family"] = self.family
        out["table"] = self.table
        out["chain"] = self.chain
        if self.policy:
            out["policy"] = True
        else:
            out["rule_number"] = self.rule_number
            out["line"] = self.line
            if self.handle is not None:
                out["handle"] = self.handle
        return out

    def __str__(self) -> str:
        where = f"{self.table} {self.chain}"
        if self.policy:
            return f"{where} policy"
        if self.handle is not None:
            return f"{where} rule {self.rule_number} (handle {self.handle})"
        return f"{where} rule {self.rule_number} (line {self.line})"


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One event on the packet's way: a rule that matched, a jump, a return, a policy, NAT."""

    kind: str  # rule | jump | goto | return | policy | nat | assume
    table: str
    chain: str
    rule_number: int | None = None
    line: int | None = None
    text: str | None = None
    verdict: str | None = None
    packets: int | None = None
    bytes: int | None = None
    note: str | None = None
    hook: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "hook": self.hook, "table": self.table,
                               "chain": self.chain}
        for name in ("rule_number", "line", "text", "verdict", "packets", "bytes", "note"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def __str__(self) -> str:
        where = f"{self.hook or ''} {self.table}/{self.chain}".strip()
        if self.rule_number is not None:
            where += f" #{self.rule_number} (line {self.line})"
        counters = f" [{self.packets} pkts, {self.bytes} bytes]" if self.packets is not None else ""
        verdict = f" -> {self.verdict}" if self.verdict else ""
        body = f": {self.text}" if self.text else ""
        note = f"  ({self.note})" if self.note else ""
        return f"{self.kind:7} {where}{verdict}{counters}{body}{note}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One possible ending when a condition cannot be known: what was assumed, and the
    translation made on the way there."""

    verdict: str
    decided_by: Decision | None
    assuming: tuple[str, ...]
    nat: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "decided_by": self.decided_by.to_dict() if self.decided_by else None,
            "assuming": list(self.assuming)}
        if self.nat:
            out["nat"] = self.nat
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer for one packet: verdict ACCEPT/DROP/REJECT, or UNKNOWN with the possibilities."""

    verdict: str
    decided_by: Decision | None
    trace: tuple[TraceStep, ...] = ()
    nat: dict[str, Any] | None = None
    possible: tuple[Outcome, ...] = ()
    depends_on: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "decided_by": self.decided_by.to_dict() if self.decided_by else None,
            "trace": [step.to_dict() for step in self.trace],
        }
        if self.nat:
            out["nat"] = self.nat
        if self.possible:
            out["possible"] = [o.to_dict() for o in self.possible]
            out["depends_on"] = list(self.depends_on)
        if self.notes:
            out["notes"] = list(self.notes)
        return out
