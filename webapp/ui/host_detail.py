"""What the host page shows beyond its workloads: the rule tables as `iptables -L -v
--line-numbers` lists them with the counters' change since the previous snapshot, native nft
chains, ipsets, the host's drift, its snapshot history with the diff between consecutive
snapshots, and its convergence per generation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from collectors.iptables import parse_iptables_save
from webapp.analysis.models import GenerationHost
from webapp.engine.listing import ListedChain, list_ruleset
from webapp.inventory.models import Host
from webapp.rules.models import ParsedRule, ParsedSet, Snapshot
from webapp.rules.services import RuleLine, diff_rules
from webapp.ui.links import chain_anchor, nft_anchor, rule_anchor
from webapp.ui.lists import Column, Section, moment_text

_NFT_COUNTER = re.compile(r"counter packets \d+ bytes \d+")
DUMPS = (("iptables-save", "ipv4"), ("ip6tables-save", "ipv6"))
HISTORY_PAGE = 10
HISTORY_LIMIT = 50  # snapshots listed, newest first; each costs a diff


@dataclass(frozen=True, slots=True)
class HostSnapshots:
    """The host's newest snapshot and the one before it (either may be None)."""

    newest: Snapshot | None
    previous: Snapshot | None


def snapshots_of(host: Host) -> HostSnapshots:
    rows = list(host.snapshots.order_by("-collected_at", "-id")[:2])
    return HostSnapshots(rows[0] if rows else None, rows[1] if len(rows) > 1 else None)


def listing(pair: HostSnapshots) -> list[dict[str, Any]]:
    """Chains of the newest snapshot's iptables dumps with each rule's counter change since
    the previous snapshot, and each row's anchor."""
    if pair.newest is None:
        return []
    out: list[dict[str, Any]] = []
    for dump, family in DUMPS:
        text = pair.newest.dumps.get(dump)
        if not text:
            continue
        before_text = pair.previous.dumps.get(dump) if pair.previous is not None else None
        ruleset = parse_iptables_save(text, dump)
        before = parse_iptables_save(before_text, dump) if before_text else None
        out.extend(_chain_entry(chain) for chain in list_ruleset(ruleset, family, before))
    return out


def _chain_entry(chain: ListedChain) -> dict[str, Any]:
    return {"family": chain.family, "table": chain.table, "name": chain.name,
            "header": chain.header, "id": chain_anchor(chain.family, chain.table, chain.name),
            "rules": [{**rule.to_dict(),
                       "id": rule_anchor(chain.family, chain.table, chain.name, rule.number)}
                      for rule in chain.rules]}


def nft_chains(snapshot: Snapshot | None) -> list[dict[str, Any]]:
    """The snapshot's nft chains with their rules, as `nft list ruleset` words them; tables
    iptables-nft made are marked (the listing above shows them as iptables does)."""
    if snapshot is None:
        return []
    iptables_tables = set(ParsedRule.objects.filter(snapshot=snapshot).exclude(
        source="nft.json").values_list("family", "table").distinct())
    made = {("ip" if f == "ipv4" else "ip6", t) for f, t in iptables_tables}
    chains: dict[tuple[str, str, str], list[ParsedRule]] = {}
    for rule in ParsedRule.objects.filter(snapshot=snapshot, source="nft.json").order_by("id"):
        chains.setdefault((rule.family, rule.table, rule.chain), []).append(rule)
    return [{"family": family, "table": table, "chain": chain,
             "id": nft_anchor(family, table, chain), "iptables_nft": (family, table) in made,
             "rules": [{"position": r.position, "text": r.text, "packets": r.packets,
                        "bytes": r.bytes} for r in rules]}
            for (family, table, chain), rules in chains.items()]


def set_section(pair: HostSnapshots) -> Section:
    """Sets of the newest snapshot with the members added and removed since the previous."""
    def rows() -> list[dict[str, Any]]:
        if pair.newest is None:
            return []
        before = {} if pair.previous is None else {
            (s.source, s.name): set(s.members) for s in ParsedSet.objects.filter(
                snapshot=pair.previous)}
        out = []
        for item in ParsedSet.objects.filter(snapshot=pair.newest).order_by("id"):
            then = before.get((item.source, item.name))
            now = set(item.members)
            out.append({"name": item.name, "source": item.source, "type": item.type,
                        "count": item.member_count, "members": " ".join(item.members),
                        "added": " ".join(sorted(now - then)) if then is not None else "",
                        "removed": " ".join(sorted(then - now)) if then is not None else ""})
        return out
    return Section("sets", "Sets", [
        Column("name", "set"), Column("source", "dump"), Column("type", "type"),
        Column("count", "members", numeric=True), Column("members", "elements"),
        Column("added", "added since the previous snapshot"), Column("removed", "removed")],
        rows, empty="No ipset or nft set in the newest snapshot.")


def history_section(host: Host) -> Section:
    """The newest snapshots, newest first, with the rules and set members that changed from
    the one before each."""
    def rows() -> Iterator[dict[str, Any]]:
        snapshots = list(host.snapshots.defer("dumps").order_by("-collected_at", "-id")
                         [:HISTORY_LIMIT + 1])[::-1]
        out = []
        for index, snapshot in enumerate(snapshots):
            previous = snapshots[index - 1] if index else None
            out.append(_history_row(snapshot, previous))
        return reversed(out[-HISTORY_LIMIT:])
    return Section("history", "Snapshot history", [
        Column("collected", "collected"), Column("hash", "content hash"),
        Column("rules", "rules", numeric=True), Column("sets", "sets", numeric=True),
        Column("seen", "held until"), Column("added", "rules added"),
        Column("removed", "rules removed"), Column("members", "set members changed")],
        rows, empty="This host has sent no snapshot yet.", page_size=HISTORY_PAGE)


def _history_row(snapshot: Snapshot, previous: Snapshot | None) -> dict[str, Any]:
    diff = _SnapshotDiff(snapshot, previous)
    return {"collected": moment_text(snapshot.collected_at), "hash": snapshot.content_hash[:12],
            "rules": snapshot.rule_count, "sets": snapshot.set_count,
            "seen": moment_text(snapshot.last_seen_at), "added": diff.part("added"),
            "removed": diff.part("removed"), "members": diff.part("members")}


class _SnapshotDiff:
    """What one snapshot changed from the one before it, read only when a cell is shown,
    filtered or exported: a page of the history diffs its own rows, not every snapshot's."""

    def __init__(self, snapshot: Snapshot, previous: Snapshot | None) -> None:
        self.snapshot, self.previous = snapshot, previous
        self.texts: dict[str, str] | None = None

    def part(self, key: str) -> _DiffText:
        return _DiffText(self, key)

    def text(self, key: str) -> str:
        if self.texts is None:
            self.texts = self._compute()
        return self.texts[key]

    def _compute(self) -> dict[str, str]:
        if self.previous is None:
            return {"added": "(first snapshot)", "removed": "", "members": ""}
        added: list[str] = []
        removed: list[str] = []
        members: list[str] = []
        for chain in diff_rules(_rule_lines(self.previous), _rule_lines(self.snapshot)):
            where = f"{chain.table} {chain.chain}"
            added.extend(f"{where} #{r.position}: {r.text}" for r in chain.added)
            removed.extend(f"{where} #{r.position}: {r.text}" for r in chain.removed)
        then = {s.name: set(s.members) for s in ParsedSet.objects.filter(snapshot=self.previous)}
        for item in ParsedSet.objects.filter(snapshot=self.snapshot):
            old = then.pop(item.name, set())
            members.extend(f"{item.name}: +{m}" for m in sorted(set(item.members) - old))
            members.extend(f"{item.name}: -{m}" for m in sorted(old - set(item.members)))
        for name, old in sorted(then.items()):
            members.extend(f"{name}: -{m}" for m in sorted(old))
        return {"added": "\n".join(added), "removed": "\n".join(removed),
                "members": "\n".join(members)}


class _DiffText:
    """One cell of a snapshot's diff; its text is computed on first use."""

    def __init__(self, diff: _SnapshotDiff, key: str) -> None:
        self.diff, self.key = diff, key

    def __str__(self) -> str:
        return self.diff.text(self.key)


def _rule_lines(snapshot: Snapshot) -> list[RuleLine]:
    """The snapshot's rules as a diff compares them: nft rules without their counters, and
    none of a table iptables-nft made (its iptables dump holds the same rules)."""
    rows = list(ParsedRule.objects.filter(snapshot=snapshot).order_by("id").values_list(
        "source", "family", "table", "chain", "position", "text"))
    made = {("ip" if f == "ipv4" else "ip6", t) for source, f, t, *_ in rows
            if source != "nft.json"}
    return [RuleLine(family, table, chain, position,
                     _NFT_COUNTER.sub("counter", text) if source == "nft.json" else text)
            for source, family, table, chain, position, text in rows
            if source != "nft.json" or (family, table) not in made]


def convergence_section(host: Host) -> Section:
    """Per generation that listed the host: when it opened and when the host converged."""
    def rows() -> list[dict[str, Any]]:
        entries = (GenerationHost.objects.filter(host_name=host.name)
                   .select_related("generation").order_by("-generation__number"))
        return [{"generation": e.generation.number, "cause": e.generation.cause,
                 "generation_href": reverse("ui:convergence")
                 + f"?generation={e.generation.number}",
                 "opened": moment_text(e.generation.opened_at),
                 "converged": moment_text(e.converged_at) or "not yet",
                 "seconds": e.seconds} for e in entries]
    return Section("convergence", "Convergence history", [
        Column("generation", "generation", "generation_href"), Column("cause", "cause"),
        Column("opened", "opened"), Column("converged", "converged at"),
        Column("seconds", "seconds", numeric=True)], rows,
        empty="No generation has listed this host.")
