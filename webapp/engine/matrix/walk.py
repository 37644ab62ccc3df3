"""Symbolic chain traversal over address regions: which (source, destination) pairs may be
accepted. A region maps a destination atom mask to the source atoms that have exactly those
destinations; source masks of one region are disjoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.iptables import Rule
from webapp.engine.iptables.targets import TargetAction

Region = dict[int, int]


def restrict(region: Region, src: int, dst: int) -> Region:
    """The part of the region inside the box src x dst."""
    result: Region = {}
    for dmask, smask in region.items():
        inside_src = smask & src
        inside_dst = dmask & dst
        if inside_src and inside_dst:
            result[inside_dst] = result.get(inside_dst, 0) | inside_src
    return result


def remove(region: Region, src: int, dst: int) -> Region:
    """The part of the region outside the box src x dst."""
    if not src or not dst:
        return region
    result: Region = {}
    for dmask, smask in region.items():
        outside = smask & ~src
        if outside:
            result[dmask] = result.get(dmask, 0) | outside
        inside = smask & src
        rest = dmask & ~dst
        if inside and rest:
            result[rest] = result.get(rest, 0) | inside
    return result


def union(first: Region, second: Region) -> Region:
    """Pairs in either region."""
    if not first:
        return dict(second)
    result = dict(first)
    for dmask, smask in second.items():
        for key in list(result):
            if not smask:
                break
            common = result[key] & smask
            if not common:
                continue
            smask &= ~common
            merged = key | dmask
            if merged != key:
                left = result[key] & ~common
                if left:
                    result[key] = left
                else:
                    del result[key]
                result[merged] = result.get(merged, 0) | common
        if smask:
            result[dmask] = result.get(dmask, 0) | smask
    return result


@dataclass(frozen=True, slots=True)
class Step:
    """One rule reduced to atom masks: sure box, possible box, and what it does."""

    rule: Rule
    action: TargetAction
    src_true: int
    dst_true: int
    src_maybe: int
    dst_maybe: int


@dataclass(slots=True)
class WalkChain:
    """A chain's steps and its policy (None for a user chain)."""

    name: str
    policy: str | None
    steps: list[Step]


@dataclass(slots=True)
class Walker:
    """Runs a region through chains; `notes` collects what the traversal had to assume."""

    chains: dict[str, WalkChain]
    notes: set[str] = field(default_factory=set)

    def run(self, name: str, region: Region) -> Region:
        """Pairs a built-in chain may accept."""
        accepted, _ = self._chain(name, region, (name,))
        return accepted

    def _chain(self, name: str, region: Region, stack: tuple[str, ...]) -> tuple[Region, Region]:
        """(may be accepted, may return to the caller) for the region entering a chain."""
        chain = self.chains[name]
        accepted: Region = {}
        returned: Region = {}
        for step in chain.steps:
            if not region:
                break
            maybe = restrict(region, step.src_maybe, step.dst_maybe)
            if not maybe:
                continue
            action = step.action
            kind = action.kind
            if kind == "verdict":
                if action.verdict == "ACCEPT":
                    accepted = union(accepted, maybe)
                    region = remove(region, step.src_maybe, step.dst_maybe)
                else:  # DROP and REJECT: only where the rule surely matches
                    region = remove(region, step.src_true, step.dst_true)
            elif kind in ("jump", "goto") and action.chain in self.chains:
                target = str(action.chain)
                if target in stack:
                    self.notes.add(f"loop through chain {target}: treated as may accept")
                    accepted = union(accepted, maybe)
                    continue
                inner_accepted, inner_returned = self._chain(target, maybe, stack + (target,))
                accepted = union(accepted, inner_accepted)
                region = remove(region, step.src_true, step.dst_true)
                if kind == "jump":
                    region = union(region, inner_returned)
                else:
                    returned = union(returned, inner_returned)
            elif kind == "return":
                returned = union(returned, maybe)
                region = remove(region, step.src_true, step.dst_true)
            elif kind in ("continue", "nat"):
                continue
            else:  # a target whose effect is unknown may accept
                self.notes.add(f"{action.describes or 'unknown target'}: treated as may accept")
                accepted = union(accepted, maybe)
        if chain.policy is None:
            returned = union(returned, region)
        elif chain.policy == "ACCEPT":
            accepted = union(accepted, region)
        return accepted, returned
