"""Network namespaces for the lab: a receiver ("host"), two senders and an egress neighbour.

Topology (every address lives only inside these namespaces):

    a: veth0 10.200.1.2 ── eth0          10.200.1.1 ┐
    b: veth0 10.200.2.2 ── cali1234abcd  10.200.2.1 ├ host: 192.0.2.0/24 is local (route on lo),
    c: veth0 10.200.3.2 ── eth1          10.200.3.1 │ 198.51.100.0/25 and the default route go
    c: veth1 10.200.4.2 ── cali5678ef01  10.200.4.1 ┘ via eth1, 198.51.100.128/25 via cali5678ef01

The host has rp_filter off, accept_local on and forwarding on, so spoofed sources reach its
hooks; static neighbour entries spare every namespace from ARP.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from collectors.lab.probes import Probe, Sender, build_packet

TRACE_TABLE = "ssk_trace"
# Sets nftrace before anything else and closes the input and postrouting hooks after everything
# else, so that a packet's trace ends with an event in `in_end` or `post_end` once it got through.
TRACE_RULESET = f"""
table ip {TRACE_TABLE} {{
    chain pre {{ type filter hook prerouting priority -350; policy accept; meta nftrace set 1; }}
    chain in_end {{ type filter hook input priority 1000; policy accept; }}
    chain post_end {{ type filter hook postrouting priority 1000; policy accept; }}
}}
"""
IPTABLES_TABLES = ("raw", "mangle", "nat", "filter", "security")
MARKER_SOURCE = "10.200.1.2"
MARKER_DESTINATION = "10.200.1.1"


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair between the host and a neighbour namespace; host .1, neighbour .2."""

    host_iface: str
    peer: str
    peer_iface: str
    subnet: str

    @property
    def host_address(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def peer_address(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[2])


LINKS = (
    Link("eth0", "a", "veth0", "10.200.1.0/24"),
    Link("cali1234abcd", "b", "veth0", "10.200.2.0/24"),
    Link("eth1", "c", "veth0", "10.200.3.0/24"),
    Link("cali5678ef01", "c", "veth1", "10.200.4.0/24"),
)
LAB_NETWORK = "10.200.0.0/16"
LOCAL_RANGE = "192.0.2.0/24"
FORWARD_ROUTES = {"198.51.100.0/25": "eth1", "198.51.100.128/25": "cali5678ef01"}
INGRESS = {"eth0": "a", "cali1234abcd": "b"}
DEFAULT_EGRESS = "eth1"


def run(argv: Sequence[str], netns: str | None = None, input: str | None = None,
        check: bool = True) -> str:
    """Run a command (inside `netns` when given) and return its stdout; raise LabError."""
    command = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    result = subprocess.run(command, input=input, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def sysctl(netns: str, settings: Mapping[str, str]) -> None:
    """Set kernel parameters inside a namespace."""
    run(["sysctl", "-q", "-w", *(f"{key}={value}" for key, value in settings.items())],
        netns=netns)


def remove_stale_namespaces(prefix: str = "ssk") -> list[str]:
    """Delete `<prefix>-<pid>-…` namespaces whose creating process is gone; return their names."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-[0-9a-f]{{4}}-\w+$")
    removed = []
    for line in run(["ip", "netns", "list"]).splitlines():
        name = line.split()[0] if line.split() else ""
        match = pattern.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    return removed


@dataclass(frozen=True, slots=True)
class RulePosition:
    """Where an nft rule handle sits in iptables terms: table, chain, 1-based number."""

    table: str
    chain: str
    number: int


@dataclass(frozen=True, slots=True)
class LoadedRuleset:
    """What the kernel holds after a load: handles mapped to positions, rule texts, base chains."""

    positions: dict[tuple[str, int], RulePosition]
    rules: dict[tuple[str, str], tuple[str, ...]]
    base_chains: dict[tuple[str, str], str]
    iptables_save: str
    ipset_save: str

    def rule_text(self, position: RulePosition) -> str:
        return self.rules[(position.table, position.chain)][position.number - 1]


class Lab:
    """The namespaces of one lab; use as a context manager so that they are always removed."""

    def __init__(self, prefix: str = "ssk") -> None:
        tag = f"{prefix}-{os.getpid()}-{secrets.token_hex(2)}"
        self.names = {role: f"{tag}-{role}" for role in ("host", "a", "b", "c")}
        self._senders: dict[str, Sender] = {}
        self._marker_id = 0

    @property
    def host(self) -> str:
        return self.names["host"]

    def __enter__(self) -> Lab:
        try:
            self.create()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def create(self) -> None:
        """Build the namespaces, links, addresses, routes, neighbours and sysctls."""
        for name in self.names.values():
            run(["ip", "netns", "add", name])
        for name in self.names.values():
            sysctl(name, {"net.ipv6.conf.all.disable_ipv6": "1",
                                "net.ipv6.conf.default.disable_ipv6": "1"})
            run(["ip", "-n", name, "link", "set", "lo", "up"])
        host = self.host
        macs: dict[tuple[str, str], str] = {}
        for link in LINKS:
            peer = self.names[link.peer]
            run(["ip", "link", "add", link.peer_iface, "netns", peer, "type", "veth",
                 "peer", "name", link.host_iface, "netns", host])
            prefixlen = ipaddress.ip_network(link.subnet).prefixlen
            for ns, iface, address in ((host, link.host_iface, link.host_address),
                                       (peer, link.peer_iface, link.peer_address)):
                run(["ip", "-n", ns, "addr", "add", f"{address}/{prefixlen}", "dev", iface])
                run(["ip", "-n", ns, "link", "set", iface, "up"])
                macs[(ns, iface)] = self._mac(ns, iface)
        settings = {"net.ipv4.ip_forward": "1"}
        for scope in ("all", "default", "lo", *(link.host_iface for link in LINKS)):
            settings[f"net.ipv4.conf.{scope}.rp_filter"] = "0"
            settings[f"net.ipv4.conf.{scope}.accept_local"] = "1"
        sysctl(host, settings)
        run(["ip", "-n", host, "route", "add", "local", LOCAL_RANGE, "dev", "lo"])
        for link in LINKS:
            peer = self.names[link.peer]
            run(["ip", "-n", host, "neigh", "replace", link.peer_address, "lladdr",
                 macs[(peer, link.peer_iface)], "dev", link.host_iface, "nud", "permanent"])
            run(["ip", "-n", peer, "neigh", "replace", link.host_address, "lladdr",
                 macs[(host, link.host_iface)], "dev", link.peer_iface, "nud", "permanent"])
            if link.peer in INGRESS.values():
                run(["ip", "-n", peer, "route", "add", "default", "via", link.host_address])
        for network, iface in FORWARD_ROUTES.items():
            gateway = next(link.peer_address for link in LINKS if link.host_iface == iface)
            run(["ip", "-n", host, "route", "add", network, "via", gateway, "dev", iface])
        gateway = next(link.peer_address for link in LINKS if link.host_iface == DEFAULT_EGRESS)
        run(["ip", "-n", host, "route", "add", "default", "via", gateway])
        run(["nft", "-f", "-"], netns=host, input=TRACE_RULESET)

    def destroy(self) -> None:
        """Stop the senders and delete every namespace of this lab (ignoring missing ones)."""
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        existing = set(run(["ip", "netns", "list"], check=False).split())
        for name in self.names.values():
            if name in existing:
                run(["ip", "netns", "del", name], check=False)

    @staticmethod
    def _mac(netns: str, iface: str) -> str:
        info = json.loads(run(["ip", "-j", "-n", netns, "link", "show", "dev", iface]))
        return str(info[0]["address"])

    def sender(self, in_iface: str) -> Sender:
        """The sender whose packets arrive at the host on `in_iface` (started once, then kept)."""
        if in_iface not in INGRESS:
            raise LabError(f"no sender behind {in_iface}; senders: {', '.join(INGRESS)}")
        if in_iface not in self._senders:
            peer_iface = next(link.peer_iface for link in LINKS if link.host_iface == in_iface)
            self._senders[in_iface] = Sender(self.names[INGRESS[in_iface]], peer_iface)
        return self._senders[in_iface]

    def send(self, in_iface: str, probes: Iterable[Probe]) -> None:
        """Send `probes` so that they reach the host on `in_iface`, in order."""
        self.sender(in_iface).send(build_packet(probe) for probe in probes)

    def next_marker(self) -> Probe:
        """A harmless UDP packet from sender a with an IP id of its own (from 65535 down)."""
        self._marker_id += 1
        return Probe(ip_id=65536 - self._marker_id, src=MARKER_SOURCE, dst=MARKER_DESTINATION,
                     proto="udp", sport=9, dport=9)

    def load(self, iptables_save: str, ipset_save: str = "") -> LoadedRuleset:
        """Replace the host's rules, sets and connections; return the kernel's view of the rules."""
        host = self.host
        run(["nft", "-f", "-"], netns=host, input="flush ruleset\n" + TRACE_RULESET)
        self._destroy_sets()
        if ipset_save.strip():
            run(["ipset", "restore"], netns=host, input=ipset_save)
        run(["iptables-restore"], netns=host, input=iptables_save)
        run(["conntrack", "-F"], netns=host, check=False)
        return self.loaded_ruleset()

    def _destroy_sets(self, timeout: float = 10.0) -> None:
        # Flushing first drops the references list:set members hold on other sets. nf_tables
        # releases the rules' references from a work queue after the flush: poll, within a bound.
        run(["ipset", "flush"], netns=self.host)
        deadline = time.monotonic() + timeout
        while True:
            try:
                run(["ipset", "destroy"], netns=self.host)
                return
            except LabError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def loaded_ruleset(self) -> LoadedRuleset:
        """Read the host's rules back: nft handles in order, and `iptables-save` rule texts."""
        return read_loaded_ruleset(run(["nft", "-j", "-a", "list", "ruleset"], netns=self.host),
                                   run(["iptables-save"], netns=self.host),
                                   run(["ipset", "save"], netns=self.host))

    def add_connection(self, probe: Probe, timeout: int = 300) -> None:
        """Insert an ESTABLISHED (seen reply, assured) conntrack entry for `probe`'s tuple."""
        argv = ["conntrack", "-I", "-p", probe.proto, "-s", probe.src, "-d", probe.dst,
                "--timeout", str(timeout), "--status", "SEEN_REPLY,ASSURED"]
        if probe.proto == "tcp":
            argv += ["--sport", str(probe.sport), "--dport", str(probe.dport),
                     "--state", "ESTABLISHED"]
        elif probe.proto == "udp":
            argv += ["--sport", str(probe.sport), "--dport", str(probe.dport)]
        else:
            raise LabError(f"cannot insert an established {probe.proto} connection")
        run(argv, netns=self.host)


def read_loaded_ruleset(nft_json: str, iptables_save: str, ipset_save: str) -> LoadedRuleset:
    """The kernel's view of a loaded rule set from `nft -j -a list ruleset` and the saves."""
    positions: dict[tuple[str, int], RulePosition] = {}
    counts: dict[tuple[str, str], int] = {}
    base_chains: dict[tuple[str, str], str] = {}
    for item in json.loads(nft_json)["nftables"]:
        if "chain" in item and item["chain"]["family"] == "ip" and "hook" in item["chain"]:
            chain = item["chain"]
            base_chains[(chain["table"], chain["name"])] = chain["hook"].upper()
        if "rule" in item and item["rule"]["family"] == "ip":
            rule = item["rule"]
            key = (rule["table"], rule["chain"])
            counts[key] = counts.get(key, 0) + 1
            positions[(rule["table"], rule["handle"])] = RulePosition(
                rule["table"], rule["chain"], counts[key])
    rules = parse_iptables_save(iptables_save)
    for key, count in counts.items():
        if key[0] in IPTABLES_TABLES and len(rules.get(key, ())) != count:
            raise LabError(f"{key}: nft lists {count} rules, iptables-save "
                           f"{len(rules.get(key, ()))}")
    return LoadedRuleset(positions, rules, base_chains, iptables_save, ipset_save)


def parse_iptables_save(text: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """`iptables-save` text to the `-A` lines of every (table, chain), in order."""
    rules: dict[tuple[str, str], list[str]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":"):
            rules.setdefault((table, line[1:].split()[0]), [])
        elif line.startswith("-A "):
            chain = line.split()[1]
            rules.setdefault((table, chain), []).append(line)
    return {key: tuple(value) for key, value in rules.items()}
