"""Random iptables (+ipset) rule sets and the probes aimed at their rules, reproducible by seed.

A rule set always has a filter table (policies, user chains reached by jump and goto, RETURN,
non-terminating targets) and sometimes raw (NOTRACK), mangle (MARK, CONNMARK) and nat (DNAT,
SNAT) tables and a few ipsets. Probes are shaped by the hints of a chosen rule and of the
jumps that lead to its chain, so most of them reach the rule and many sit at a match's edge.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from collectors.lab.probes import Probe
from tests.kernel.addresses import FORWARDED, LOCAL, Cidr, edge_inside, random_cidr, text
from tests.kernel.ctmatchgen import conntrack_details, ctstate, mark
from tests.kernel.drafts import COMMON_PORTS, Draft, finish, new_draft
from tests.kernel.ipsets import SET_TYPES, make_set
from tests.kernel.matchgen import (
    Context,
    Match,
    Rule,
    addrtype,
    comment,
    destination,
    icmp_type,
    in_iface,
    iprange,
    ipsec_policy,
    match_set,
    multiport,
    out_iface,
    pkttype,
    ports,
    protocol,
    source,
    tcp_flags,
    ttl,
)

BUILTIN_CHAINS = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
USER_CHAINS = ("svc-web", "KUBE-FIREWALL", "cali-fw-cali1234abcd", "f2b-sshd", "DOCKER-USER",
               "ssk_c5", "allow-mgmt", "LOG_DROP", "tenant.a")
MARK_VALUES = (0x1, 0x2, 0x4, 0x10, 0x100, 0x4000, 0xDEAD)
REJECT_WITH = ("", " --reject-with icmp-port-unreachable", " --reject-with icmp-host-prohibited",
               " --reject-with icmp-admin-prohibited", " --reject-with icmp-net-unreachable")


@dataclass(frozen=True, slots=True)
class GeneratedRuleset:
    """A rule set in restore syntax, its ipsets, and its probes: CLI fields and packet to send."""

    seed: int
    iptables_restore: str
    ipset_restore: str
    probes: tuple[tuple[dict[str, Any], Probe], ...]


def generate(seed: int, probe_count: int = 40, explicit_flags: bool | None = None
             ) -> GeneratedRuleset:
    """The rule set and probes for `seed`; the same seed always gives the same result.

    With `explicit_flags` (by default for half of the seeds) TCP probes carry `tcp_flags`
    and may be bare ACKs (NEW by loose pickup) or flag sets conntrack calls INVALID.
    """
    if explicit_flags is None:
        explicit_flags = seed % 2 == 1
    builder = _Builder(seed, explicit_flags)
    builder.build()
    return GeneratedRuleset(seed, builder.restore_text(), builder.ipset_text(),
                            tuple(builder.probes(probe_count)))


class _Builder:
    def __init__(self, seed: int, explicit_flags: bool) -> None:
        self.rng = random.Random(seed)
        self.ctx = Context(self.rng, explicit_flags)
        self.rules: dict[tuple[str, str], list[Rule]] = {}
        self.policies: dict[tuple[str, str], str] = {}
        self.kinds: dict[str, str] = {}

    # -- structure -------------------------------------------------------------------------

    def build(self) -> None:
        rng = self.rng
        if rng.random() < 0.6:
            self.build_sets()
        tables = ["filter"]
        if rng.random() < 0.3:
            tables.append("raw")
        if rng.random() < 0.4:
            tables.append("mangle")
        if rng.random() < 0.35:
            tables.append("nat")
        if rng.random() < 0.12:
            tables.append("security")
        for table in ("raw", "mangle", "nat", "filter", "security"):
            if table in tables:
                for chain in BUILTIN_CHAINS[table]:
                    self.policies[(table, chain)] = "ACCEPT"
                    self.rules[(table, chain)] = []
                getattr(self, f"build_{table}")()

    def build_sets(self) -> None:
        for index in range(self.rng.randint(1, 4)):
            set_type = self.rng.choice(SET_TYPES if self.ctx.sets else SET_TYPES[:-1])
            name = f"ssk-{set_type.split(':')[1].replace(',', '-')}-{index}"
            self.ctx.sets.append(make_set(self.rng, name, set_type, self.ctx.sets))

    def build_raw(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            matches = self.matches("prerouting")
            target = self.rng.choices(("-j CT --notrack", "-j NOTRACK", "-j ACCEPT", "-j DROP",
                                       "-j MARK --set-xmark 0x4/0x4"), (5, 2, 2, 1, 1))[0]
            rule = self.add("raw", "PREROUTING", matches, target)
            if "notrack" in target.lower():
                self.ctx.notrack_rules.append(rule)
            elif "MARK" in target:
                rule.mark = 0x4
                self.ctx.mark_rules.append(rule)

    def build_mangle(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.6:
                self.mark_rule("mangle", "PREROUTING", "prerouting")
            elif roll < 0.75:
                value = rng.choice(MARK_VALUES)
                rule = self.add("mangle", "PREROUTING", self.matches("prerouting"),
                                f"-j CONNMARK --set-mark 0x{value:x}/0xffff")
                rule.mark = value & 0xFFFF
                self.ctx.connmark_rules.append(rule)
                if rng.random() < 0.4:
                    # The packet mark follows the connection's: `-m mark` can now see it.
                    self.add("mangle", "PREROUTING", [], "-j CONNMARK --restore-mark")
                    self.ctx.mark_rules.append(rule)
            else:
                target = rng.choice(("-j ACCEPT", "-j RETURN", "-j DROP", "-j LOG"))
                self.add("mangle", "PREROUTING", self.matches("prerouting"), target)
        for chain, kind in (("INPUT", "input"), ("FORWARD", "forward")):
            for _ in range(rng.choice((0, 0, 1, 2))):
                if rng.random() < 0.3:
                    self.mark_rule("mangle", chain, kind)
                else:
                    target = rng.choices(("-j ACCEPT", "-j DROP", "-j RETURN"), (5, 2, 1))[0]
                    self.add("mangle", chain, self.matches(kind), target)

    def build_security(self) -> None:
        for chain, kind in (("INPUT", "input"), ("FORWARD", "forward")):
            for _ in range(self.rng.choice((0, 1, 2))):
                target = self.rng.choices(("-j ACCEPT", "-j DROP", "-j RETURN"), (5, 2, 1))[0]
                self.add("security", chain, self.matches(kind), target)

    def mark_rule(self, table: str, chain: str, kind: str) -> Rule:
        value = self.rng.choice(MARK_VALUES)
        roll = self.rng.random()
        if roll < 0.6:
            mask = self.rng.choice((0xFFFFFFFF, value | 0xF, value))
            target = f"-j MARK --set-xmark 0x{value:x}/0x{mask:x}"
        elif roll < 0.85:
            target = f"-j MARK --set-mark 0x{value:x}"
        else:
            target = f"-j MARK --or-mark 0x{value:x}"
        rule = self.add(table, chain, self.matches(kind), target)
        rule.mark = value
        self.ctx.mark_rules.append(rule)
        return rule

    def build_nat(self) -> None:
        rng = self.rng
        if rng.random() < 0.15:
            self.add("nat", "PREROUTING", self.matches("prerouting"),
                     rng.choice(("-j ACCEPT", "-j RETURN")))
        for _ in range(rng.randint(1, 3)):
            self.ctx.dnat_rules.append(self.dnat_rule())
        if rng.random() < 0.3:
            self.add("nat", "INPUT", self.matches("input"), rng.choice(("-j ACCEPT", "-j RETURN")))
        for _ in range(rng.choice((0, 1, 2))):
            target = rng.choice(("-j SNAT --to-source 10.200.3.1", "-j MASQUERADE"))
            self.add("nat", "POSTROUTING", [out_iface(rng)] + self.matches("postrouting"), target)

    def dnat_rule(self) -> Rule:
        """DNAT that keeps a packet on its hook: local stays local, forwarded stays on its link."""
        rng = self.rng
        base = LOCAL if rng.random() < 0.7 else rng.choice(sorted(FORWARDED, key=str))
        net = random_cidr(rng, rng.randint(base.first, base.last), shortest=base.prefixlen)
        to = text(rng.randint(base.first, base.last))
        matches = [_fixed_destination(net)]
        proto = rng.choices(("tcp", "udp", None), (6, 3, 1))[0]
        if proto is not None:
            port = rng.choice(COMMON_PORTS)
            matches += [protocol(rng, proto), _fixed_port(port)]
            if rng.random() < 0.6:
                to += f":{rng.choice(COMMON_PORTS)}"
        if rng.random() < 0.3:
            matches.append(source(rng))
        if rng.random() < 0.2:
            matches.append(in_iface(rng))
        return self.add("nat", "PREROUTING", matches, f"-j DNAT --to-destination {to}")

    def build_filter(self) -> None:
        rng = self.rng
        self.policies[("filter", "INPUT")] = "DROP" if rng.random() < 0.55 else "ACCEPT"
        self.policies[("filter", "FORWARD")] = "DROP" if rng.random() < 0.5 else "ACCEPT"
        names = rng.sample(USER_CHAINS, rng.choice((0, 1, 1, 2, 2, 3, 4)))
        for name in names:
            self.kinds[name] = rng.choices(("input", "forward", "both"), (9, 4, 7))[0]
            self.rules[("filter", name)] = []
        # Later chains first, so that every jump goes to a chain that already has its rules.
        for position in reversed(range(len(names))):
            name = names[position]
            callees = [n for n in names[position + 1:] if self._may_call(self.kinds[name], n)]
            for _ in range(rng.randint(1, 6)):
                self.filter_rule(name, self.kinds[name], callees, user=True)
        for chain, kind in (("INPUT", "input"), ("FORWARD", "forward")):
            callees = [n for n in names if self._may_call(kind, n)]
            if chain == "INPUT" and rng.random() < 0.3:
                self.add("filter", chain, [ctstate_fixed("RELATED,ESTABLISHED")], "-j ACCEPT")
            if rng.random() < 0.2:
                self.add("filter", chain, [ctstate_fixed("INVALID")], "-j DROP")
            for _ in range(rng.randint(2, 10) if chain == "INPUT" else rng.randint(1, 6)):
                self.filter_rule(chain, kind, callees, user=False)
        if rng.random() < 0.5:
            self.add("filter", "OUTPUT", [Match("-o lo")], "-j ACCEPT")

    def _may_call(self, caller_kind: str, callee: str) -> bool:
        kind = self.kinds[callee]
        return kind == "both" or (kind == caller_kind and caller_kind != "both")

    def filter_rule(self, chain: str, kind: str, callees: list[str], user: bool) -> None:
        rng = self.rng
        matches = self.matches(kind)
        options = {"ACCEPT": 25, "DROP": 14, "REJECT": 9, "RETURN": 10 if user else 2,
                   "LOG": 4, "NFLOG": 3, "MARK": 3, "CONNMARK": 1, "": 2}
        if callees:
            options.update({"JUMP": 14, "GOTO": 5})
        choice = rng.choices(list(options), list(options.values()))[0]
        if choice in ("JUMP", "GOTO"):
            callee = rng.choice(callees)
            rule = self.add("filter", chain, matches, f"-{choice[0].lower()} {callee}")
            rule.jump = callee
        elif choice == "REJECT":
            with_tcp = any(m.args == "-p tcp" for m in matches)
            resets = (" --reject-with tcp-reset",) * 2 if with_tcp else ()
            extra = rng.choice(REJECT_WITH + resets)
            self.add("filter", chain, matches, f"-j REJECT{extra}")
        elif choice == "LOG":
            self.add("filter", chain, matches, '-j LOG --log-prefix "ssk: "')
        elif choice == "NFLOG":
            self.add("filter", chain, matches, "-j NFLOG --nflog-group 5")
        elif choice == "MARK":
            rule = self.add("filter", chain, matches, "-j MARK --set-xmark 0x8/0x8")
            rule.mark = 0x8
            self.ctx.mark_rules.append(rule)
        elif choice == "CONNMARK":
            self.add("filter", chain, matches, "-j CONNMARK --set-mark 0x20/0x20")
        elif choice:
            self.add("filter", chain, matches, f"-j {choice}")
        else:
            self.add("filter", chain, matches, "")

    def add(self, table: str, chain: str, matches: list[Match], target: str) -> Rule:
        rule = Rule(table, chain, matches, target)
        self.rules[(table, chain)].append(rule)
        return rule

    def matches(self, kind: str) -> list[Match]:
        """A random conjunction of matches fit for a chain of `kind`."""
        rng = self.rng
        front: list[Match] = []
        if rng.random() < 0.4:
            front.append(source(rng))
        if rng.random() < 0.2:
            front.append(destination(rng, kind))
        if kind != "postrouting" and rng.random() < 0.2:
            front.append(in_iface(rng))
        if (kind == "forward" and rng.random() < 0.25) or (kind == "both" and rng.random() < 0.05):
            front.append(out_iface(rng))
        rng.shuffle(front)
        result = front + self.protocol_matches()
        extras = [(0.15, lambda: ctstate(rng)), (0.05, lambda: conntrack_details(rng, kind)),
                  (0.07, lambda: iprange(rng, kind)),
                  (0.07, lambda: addrtype(rng)), (0.08, lambda: comment(rng)),
                  (0.04, lambda: pkttype(rng)), (0.04, lambda: ttl(rng))]
        if kind in ("input", "forward", "prerouting"):
            extras.append((0.03, lambda: ipsec_policy(rng)))
        if self.ctx.sets:
            extras.append((0.3, lambda: match_set(rng, rng.choice(self.ctx.sets))))
        values = [r.mark for r in self.ctx.mark_rules if r.mark is not None]
        extras.append((0.25 if values else 0.03, lambda: mark(rng, values, connmark=False)))
        connmarks = [r.mark for r in self.ctx.connmark_rules if r.mark is not None]
        if connmarks:
            extras.append((0.15, lambda: mark(rng, connmarks, connmark=True)))
        for chance, make in extras:
            if rng.random() < chance:
                result.append(make())
        return result

    def protocol_matches(self) -> list[Match]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            proto = rng.choices(("tcp", "udp"), (3, 2))[0]
            result = [protocol(rng, proto)]
            which = rng.random()
            if which < 0.55:
                result.append(ports(rng, "dport"))
            elif which < 0.65:
                result.append(ports(rng, "sport"))
            elif which < 0.9:
                result.append(multiport(rng))
            if proto == "tcp" and rng.random() < 0.2:
                result.append(tcp_flags(rng))
            return result
        if roll < 0.6:
            return [protocol(rng, "icmp")] + ([icmp_type(rng)] if rng.random() < 0.75 else [])
        if roll < 0.68:
            return [protocol(rng, "tcp"), tcp_flags(rng)]
        if roll < 0.72:
            return [protocol(rng, rng.choice(("tcp", "udp", "icmp")), negated=True)]
        return []

    # -- output ----------------------------------------------------------------------------

    def restore_text(self) -> str:
        lines = []
        for table in ("raw", "mangle", "nat", "filter", "security"):
            chains = [c for (t, c) in self.rules if t == table]
            if not chains:
                continue
            lines.append(f"*{table}")
            for chain in chains:
                policy = self.policies.get((table, chain), "-")
                lines.append(f":{chain} {policy} [0:0]")
            for chain in chains:
                lines += [rule.text() for rule in self.rules[(table, chain)]]
            lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def ipset_text(self) -> str:
        return "".join(line + "\n" for s in self.ctx.sets for line in s.save_lines())

    # -- probes ----------------------------------------------------------------------------

    def probes(self, count: int) -> list[tuple[dict[str, Any], Probe]]:
        rng = self.rng
        targets = [(rule, 3 if rule.table == "filter" else 1)
                   for rules in self.rules.values() for rule in rules
                   if rule.chain not in ("OUTPUT",)]
        used: set[tuple[Any, ...]] = set()
        result = []
        for index in range(count):
            hook = rng.choices(("INPUT", "FORWARD"), (7, 3))[0]
            path: list[Rule] = []
            target: Rule | None = None
            if targets and rng.random() < 0.88:
                target = rng.choices([t for t, _ in targets], [w for _, w in targets])[0]
                hook, path = self.path_to(target)
            draft = new_draft(rng, hook)
            for rule in path:
                rule.apply(self.ctx, draft, 0.95)
            if target is not None:
                target.apply(self.ctx, draft, 0.8)
            result.append(finish(rng, draft, index, used, self.ctx.explicit_flags))
        return result

    def path_to(self, rule: Rule) -> tuple[str, list[Rule]]:
        """A hook and the jumps that lead from one of its base chains to `rule`'s chain."""
        rng = self.rng
        path: list[Rule] = []
        chain = rule.chain
        if rule.table != "filter":
            if rule.chain in ("INPUT",):
                return "INPUT", path
            if rule.chain in ("FORWARD", "POSTROUTING"):
                return "FORWARD", path
            if rule in self.ctx.dnat_rules:
                net = _fixed_network(rule)
                return ("INPUT" if net is not None and net.first in LOCAL else "FORWARD"), path
            return rng.choices(("INPUT", "FORWARD"), (7, 3))[0], path
        while chain not in ("INPUT", "FORWARD"):
            callers = [r for (t, _), rules in self.rules.items() if t == "filter"
                       for r in rules if r.jump == chain]
            if not callers:
                return rng.choices(("INPUT", "FORWARD"), (7, 3))[0], path
            caller = rng.choice(callers)
            path.insert(0, caller)
            chain = caller.chain
        return chain, path


def ctstate_fixed(states: str) -> Match:
    """`--ctstate STATES` without a hint: the prologue rules firewalls usually start with."""
    return Match(f"-m conntrack --ctstate {states}")


def _fixed_destination(net: Cidr) -> Match:
    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        address = edge_inside(ctx.rng, net, draft.dst_domain) if satisfy else None
        if address is not None:
            draft.dst = address

    return Match(f"-d {net}", hint)


def _fixed_port(port: int) -> Match:
    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        draft.dport = port if satisfy else port + 1

    return Match(f"--dport {port}", hint)


def _fixed_network(rule: Rule) -> Cidr | None:
    for match in rule.matches:
        if match.args.startswith("-d "):
            return Cidr.parse(match.args.split()[1])
    return None
