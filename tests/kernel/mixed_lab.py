"""Helpers for the mixed differential: an iptables-nft `filter` table (plus ipsets) and a native
nft `inet` table on the same hooks, in one receiver namespace of the nft lab.

The namespaces are those of `nft_lab.Lab`, named `ssm-<tag>-{rx,tx,sk}`. The kernel's account
is `nft monitor trace`, which traces the iptables-nft rules too (table `ip filter`); their nft
handles are mapped to iptables rule numbers by their position in the chain of the JSON dump.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from tests.kernel.nft_lab import TRACER, Lab, TraceEvent, run

SETS = ("ssm-net", "ssm-ipport", "ssm-ip")
SET_CREATE = ("create ssm-net hash:net family inet\n"
              "create ssm-ipport hash:ip,port family inet\n"
              "create ssm-ip hash:ip family inet\n")
SET_MEMBERS = {"ssm-net": ("192.0.2.0/28", "10.200.0.4/30", "198.51.100.5", "10.200.0.7"),
               "ssm-ipport": ("192.0.2.3,tcp:22", "10.200.0.7,tcp:80", "192.0.2.4,udp:53",
                              "10.200.0.2,tcp:443", "10.200.0.5,tcp:8080"),
               "ssm-ip": ("10.200.0.1", "198.51.100.7", "10.200.1.1", "198.51.100.20")}
Key = tuple[str, str, str]  # family, table, chain


class MixedLab(Lab):
    """The nft lab with `ssm-` namespaces and loads of iptables + ipset + nft together."""

    def __enter__(self) -> MixedLab:
        self.rx, self.tx, self.sink = (f"ssm-{self.tag}-{n}" for n in ("rx", "tx", "sk"))
        try:
            self._build()
            run("ip", "netns", "exec", self.rx, "ipset", "restore", "-exist", stdin=SET_CREATE)
        except BaseException:
            self.close()
            raise
        return self

    def load_mixed(self, iptables: str, ipset: str, nft: str, nft_first: bool) -> None:
        """Replace everything: tracer, ipset members, the iptables-nft filter table and the
        native nft table (in the order given: at equal priority the first one runs first)."""
        run("ip", "netns", "exec", self.rx, "nft", "-f", "-", stdin="flush ruleset\n" + TRACER)
        run("ip", "netns", "exec", self.rx, "ipset", "flush")
        if ipset:
            run("ip", "netns", "exec", self.rx, "ipset", "restore", "-exist", stdin=ipset)
        steps = [("iptables-restore",), ("nft", "-f", "-")]
        for step in (reversed(steps) if nft_first else steps):
            run("ip", "netns", "exec", self.rx, *step, stdin=iptables if len(step) == 1 else nft)
        run("ip", "netns", "exec", self.rx, "conntrack", "-F")

    def dumps(self) -> tuple[str, str, str]:
        """iptables-save, ipset save, and `nft -j list ruleset` without the tracer table."""
        ns = ("ip", "netns", "exec", self.rx)
        saved = run(*ns, "iptables-save")
        sets = run(*ns, "ipset", "save")
        data = json.loads(run(*ns, "nft", "-j", "list", "ruleset"))
        data["nftables"] = [item for item in data["nftables"]
                            if next(iter(item.values())).get("table") != "ssn_tracer"
                            and next(iter(item.values())).get("name") != "ssn_tracer"]
        return saved, sets, json.dumps(data)


def random_ipset(rng: random.Random) -> str:
    return "".join(f"add {name} {member}\n" for name, pool in SET_MEMBERS.items()
                   for member in rng.sample(pool, rng.randint(0, len(pool))))


# --- random iptables filter tables ----------------------------------------------------------
SOURCES = ("10.200.0.0/24", "192.0.2.0/28", "192.0.2.3", "198.51.100.5", "10.200.0.5",
           "192.0.2.16/28")
DESTS = ("10.200.0.1", "10.200.1.1", "198.51.100.0/24", "198.51.100.7", "10.200.0.0/24")


def random_iptables(rng: random.Random) -> str:
    """A filter table: INPUT/FORWARD policies, rules, user chains reached by jump and goto."""
    users = rng.sample(("svc-web", "f2b-sshd", "DOCKER-USER", "ssm_c1"), rng.randint(0, 2))
    lines = ["*filter"]
    for chain in ("INPUT", "FORWARD"):
        lines.append(f":{chain} {rng.choice(('ACCEPT', 'ACCEPT', 'DROP'))} [0:0]")
    lines.append(":OUTPUT ACCEPT [0:0]")
    lines += [f":{name} - [0:0]" for name in users]
    for chain in ["INPUT", "FORWARD", *users]:
        later = users[users.index(chain) + 1:] if chain in users else users
        for _ in range(rng.randint(1 if chain in users else 0, 5)):
            lines.append(f"-A {chain} {_ipt_rule(rng, chain, later)}".rstrip())
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _ipt_rule(rng: random.Random, chain: str, later: list[str]) -> str:
    pick = rng.choice
    neg = "! " if rng.random() < 0.2 else ""
    proto = pick((None, None, "tcp", "tcp", "udp", "icmp"))
    parts: list[str] = []
    if proto:
        parts.append(f"-p {proto}")
        if proto == "tcp" and rng.random() < 0.6:
            parts.append(pick(("--dport 22", "--dport 80", f"{neg}--dport 1000:2000",
                               "-m multiport --dports 22,443,8080", "--sport 1234",
                               "--tcp-flags SYN,ACK SYN", "--syn")))
        elif proto == "udp" and rng.random() < 0.6:
            parts.append(pick(("--dport 53", "-m multiport --dports 53,1500", "--sport 1234")))
        elif proto == "icmp" and rng.random() < 0.6:
            parts.append(pick(("--icmp-type echo-request", "--icmp-type timestamp-request")))
    optional = [
        lambda: f"{neg}-s {pick(SOURCES)}",
        lambda: f"{neg}-d {pick(DESTS)}",
        lambda: pick(("-i eth0", "-i cali+", "! -i eth0")),
        lambda: "-m conntrack --ctstate " + pick(("NEW", "INVALID", "ESTABLISHED,RELATED",
                                                  "UNTRACKED", "NEW,UNTRACKED")),
        lambda: "-m mark --mark " + pick(("0x1", "0x0", "0x2", "0x1/0x3")),
        lambda: "-m connmark --mark " + pick(("0x5", "0x0")),
        lambda: "-m set " + pick(("", "! ")) + pick(("--match-set ssm-net src",
                                                      "--match-set ssm-ip dst",
                                                      "--match-set ssm-ipport src,dst")),
        lambda: "-m addrtype --dst-type " + pick(("LOCAL", "UNICAST")),
        lambda: "-m iprange --src-range 10.200.0.5-10.200.0.8",
        lambda: f"-m ttl --ttl-{pick(('eq', 'lt', 'gt'))} {pick((63, 64))}",
    ]
    if chain != "INPUT":
        optional.append(lambda: pick(("-o cali0", "! -o cali0", "-o eth+")))
    for make in rng.sample(optional, pick((0, 1, 1, 2, 2, 3))):
        parts.append(make())
    targets = ["-j ACCEPT", "-j ACCEPT", "-j DROP", "-j REJECT",
               "-j REJECT --reject-with icmp-host-prohibited", "-j MARK --set-xmark 0x2/0xffffffff",
               "-j CONNMARK --set-xmark 0x5/0xffffffff", ""]
    if chain not in ("INPUT", "FORWARD"):
        targets += ["-j RETURN", "-j RETURN"]
    if proto == "tcp":
        targets.append("-j REJECT --reject-with tcp-reset")
    if later:
        target = pick(later)
        targets += [f"-j {target}", f"-j {target}", f"-g {target}"]
    return " ".join(parts + [pick(targets)])


# --- the kernel's account -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Layout:
    """From the kernel's JSON dump: base chains' hooks and priorities, each rule's position in
    its chain, and which rules reject (so a traced drop can be told from a reject)."""

    hooks: dict[Key, tuple[str, int]]
    positions: dict[tuple[str, str, str, int], int]  # (family, table, chain, handle) -> number
    rejects: frozenset[tuple[str, str, str, int]]

    @classmethod
    def of(cls, nft_json: str) -> Layout:
        hooks: dict[Key, tuple[str, int]] = {}
        positions: dict[tuple[str, str, str, int], int] = {}
        rejects: set[tuple[str, str, str, int]] = set()
        counts: dict[Key, int] = {}
        for item in json.loads(nft_json)["nftables"]:
            if "chain" in item and "hook" in item["chain"]:
                c = item["chain"]
                hooks[(c["family"], c["table"], c["name"])] = (c["hook"], int(c["prio"]))
            elif "rule" in item:
                r = item["rule"]
                key = (r["family"], r["table"], r["chain"])
                counts[key] = counts.get(key, 0) + 1
                positions[(*key, r["handle"])] = counts[key]
                text = json.dumps(r["expr"])
                if '"reject"' in text or '"REJECT"' in text:
                    rejects.add((*key, r["handle"]))
        return cls(hooks, positions, frozenset(rejects))


def kernel_verdict(events: list[TraceEvent], layout: Layout, complete: bool) -> str:
    for e in events:
        if e.verdict == "drop" and e.table != "ssn_tracer":
            reject = e.handle is not None and (e.family, e.table, e.chain, e.handle) in \
                layout.rejects
            return "REJECT" if reject else "DROP"
    return "ACCEPT" if complete else "NO-TRACE"


def kernel_decider(events: list[TraceEvent], hook: str, layout: Layout
                   ) -> dict[str, Any] | None:
    """The deciding rule as `_accepting_decision` picks it: the rule or policy that dropped,
    else the last rule that accepted on the path's own hook, else the priority-0 policy there,
    else the last accept on that hook, else the last accept anywhere. In Segscope's terms."""
    finals: list[tuple[str, int, TraceEvent]] = []
    base: tuple[str, int] | None = None
    for e in events:
        if e.table == "ssn_tracer":
            continue
        if e.kind == "packet":
            base = layout.hooks.get((e.family, e.table, e.chain))
            continue
        if e.verdict == "drop":
            return decision(e, layout)
        if e.verdict == "accept" and base is not None:
            finals.append((base[0], base[1], e))
    main = [f for f in finals if f[0] == hook.lower()]
    for _, _, e in reversed(main):
        if e.kind != "policy":
            return decision(e, layout)
    for _, priority, e in main:
        if priority == 0:
            return decision(e, layout)
    if main:
        return decision(main[-1][2], layout)
    return decision(finals[-1][2], layout) if finals else None


def decision(e: TraceEvent, layout: Layout) -> dict[str, Any]:
    """A trace event as a decided_by: iptables' (table, chain, rule number) for the
    iptables-nft table, (family, table, chain, handle) for native nft."""
    iptables = (e.family, e.table) == ("ip", "filter")
    out: dict[str, Any] = {} if iptables else {"family": e.family}
    out.update(table=e.table, chain=e.chain)
    if e.kind == "policy":
        out["policy"] = True
    else:
        assert e.handle is not None
        out["rule_number"] = layout.positions.get((e.family, e.table, e.chain, e.handle))
        if not iptables:
            out["handle"] = e.handle
    return out


def segscope_decider(answer: dict[str, Any]) -> dict[str, Any] | None:
    decided = answer.get("decided_by")
    if not decided:
        return None
    keys = ("family", "table", "chain", "policy", "rule_number", "handle")
    return {k: decided[k] for k in keys if decided.get(k) not in (None, False)}
