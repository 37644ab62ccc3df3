"""A small lab for the nft differential test: a receiver namespace with two veth links, a
sender that writes crafted Ethernet frames, and `nft monitor trace` as the kernel's own account.

receiver (ssn-<tag>-rx): eth0 10.200.0.1/24 fd00:200::1/64 <-> sender (ssn-<tag>-tx) .2
                         cali0 10.200.1.1/24 fd00:201::1/64 <-> sink (ssn-<tag>-sk) .2
default routes via the sender (so spoofed sources are routable), 198.51.100.0/24 and
fd00:51::/64 via the sink, rp_filter off, forwarding on. Probes are correlated by IPv4 id or
IPv6 flow label. Every wait polls with a deadline; namespaces are always deleted.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

from collectors.lab.probes import Probe, build_packet

CLONE_NEWNET = 0x40000000
RX_ADDRESSES = ("10.200.0.1", "10.200.1.1", "fd00:200::1", "fd00:201::1")
TRACER = """table inet ssn_tracer {
  chain pre {
    type filter hook prerouting priority -350; policy accept;
    meta nftrace set 1
  }
  chain ctload {
    ct state new counter
  }
}
"""
_EVENT = re.compile(r"^trace id (\w+) (\w+) (\S+) (\S+) (.*)$")
# The monitor's cache predates later loads: it prints "unknown rule handle N" for those rules.
_RULE = re.compile(r"^(?:rule (.*?) # handle (\d+)|unknown rule handle (\d+)) "
                   r"\(verdict (\w+)(?: (\S+))?\)\s*$")
_POLICY = re.compile(r"^policy (\w+)")
_IP_ID = re.compile(r"\b(?:ip id|ip6 flowlabel) (\d+)\b")


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One line of `nft monitor trace` for a packet: a matched rule, a policy, or a packet dump."""

    family: str
    table: str
    chain: str
    kind: str  # packet | rule | policy | other
    handle: int | None = None
    verdict: str | None = None
    target: str | None = None
    text: str = ""


@dataclass
class Lab:
    """The namespaces, the trace reader and the sender socket, from `with Lab(...)` to exit."""

    tag: str
    rx: str = ""
    tx: str = ""
    sink: str = ""
    rx_mac: bytes = b""
    tx_mac: bytes = b""
    _sock: socket.socket | None = None
    _monitor: subprocess.Popen[str] | None = None
    _lines: queue.Queue[str] = field(default_factory=queue.Queue)
    _packets: dict[str, list[TraceEvent]] = field(default_factory=dict)  # by trace id
    _by_ip_id: dict[int, list[TraceEvent]] = field(default_factory=dict)

    def __enter__(self) -> Lab:
        self.rx, self.tx, self.sink = (f"ssn-{self.tag}-{n}" for n in ("rx", "tx", "sk"))
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- set-up and tear-down -----------------------------------------------------------------
    def _build(self) -> None:
        for ns in (self.rx, self.tx, self.sink):
            run("ip", "netns", "add", ns)
        run("ip", "link", "add", f"ssn{self.tag}a", "netns", self.rx, "type", "veth", "peer",
            "name", f"ssn{self.tag}b", "netns", self.tx)
        run("ip", "link", "add", f"ssn{self.tag}c", "netns", self.rx, "type", "veth", "peer",
            "name", f"ssn{self.tag}d", "netns", self.sink)
        run("ip", "-n", self.rx, "link", "set", f"ssn{self.tag}a", "name", "eth0")
        run("ip", "-n", self.rx, "link", "set", f"ssn{self.tag}c", "name", "cali0")
        sysctls = ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                   "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.all.send_redirects=0",
                   "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.accept_dad=0",
                   "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_ra=0",
                   "net.ipv6.conf.default.router_solicitations=0"]
        for ns in (self.rx, self.tx, self.sink):
            run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", *sysctls)
        self._address(self.rx, "eth0", "10.200.0.1/24", "fd00:200::1/64")
        self._address(self.rx, "cali0", "10.200.1.1/24", "fd00:201::1/64")
        self._address(self.tx, f"ssn{self.tag}b", "10.200.0.2/24", "fd00:200::2/64")
        self._address(self.sink, f"ssn{self.tag}d", "10.200.1.2/24", "fd00:201::2/64")
        run("ip", "netns", "exec", self.rx, "sysctl", "-q", "-w",
            "net.ipv4.conf.eth0.rp_filter=0", "net.ipv4.conf.cali0.rp_filter=0",
            "net.ipv4.conf.eth0.send_redirects=0", "net.ipv4.conf.cali0.send_redirects=0")
        run("ip", "-n", self.rx, "route", "add", "default", "via", "10.200.0.2")
        run("ip", "-n", self.rx, "route", "add", "198.51.100.0/24", "via", "10.200.1.2")
        run("ip", "-n", self.rx, "-6", "route", "add", "default", "via", "fd00:200::2")
        run("ip", "-n", self.rx, "-6", "route", "add", "fd00:51::/64", "via", "fd00:201::2")
        self.rx_mac = _mac(self.rx, "eth0")
        self.tx_mac = _mac(self.tx, f"ssn{self.tag}b")
        sink_mac = _mac(self.sink, f"ssn{self.tag}d")
        run("ip", "-n", self.rx, "neigh", "replace", "10.200.0.2", "lladdr",
            _mac_text(self.tx_mac), "dev", "eth0", "nud", "permanent")
        run("ip", "-n", self.rx, "neigh", "replace", "10.200.1.2", "lladdr",
            _mac_text(sink_mac), "dev", "cali0", "nud", "permanent")
        run("ip", "-n", self.rx, "neigh", "replace", "fd00:200::2", "lladdr",
            _mac_text(self.tx_mac), "dev", "eth0", "nud", "permanent")
        run("ip", "-n", self.rx, "neigh", "replace", "fd00:201::2", "lladdr",
            _mac_text(sink_mac), "dev", "cali0", "nud", "permanent")
        self._sock = _packet_socket(self.tx, f"ssn{self.tag}b")
        self.load("")
        self._start_monitor()

    def _address(self, ns: str, dev: str, cidr: str, cidr6: str) -> None:
        run("ip", "-n", ns, "addr", "add", cidr, "dev", dev)
        run("ip", "-n", ns, "addr", "add", cidr6, "dev", dev, "nodad")
        run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._monitor is not None:
            self._monitor.kill()
            self._monitor.wait(timeout=10)
            self._monitor = None
        for ns in (self.rx, self.tx, self.sink):
            if ns:
                subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)

    # --- rules ------------------------------------------------------------------------------
    def load(self, ruleset: str) -> None:
        """Replace the receiver's whole ruleset (the tracer table is always added)."""
        text = "flush ruleset\n" + TRACER + ruleset
        run("ip", "netns", "exec", self.rx, "nft", "-f", "-", stdin=text)
        subprocess.run(["ip", "netns", "exec", self.rx, "conntrack", "-F"], capture_output=True,
                       check=False)

    def nft(self, commands: str) -> None:
        """Run nft commands in the receiver (e.g. flush a dynamic set between probes)."""
        run("ip", "netns", "exec", self.rx, "nft", "-f", "-", stdin=commands)

    def ruleset_json(self) -> str:
        return run("ip", "netns", "exec", self.rx, "nft", "-j", "list", "ruleset")

    # --- tracing ----------------------------------------------------------------------------
    def _start_monitor(self, deadline: float = 15.0) -> None:
        self._monitor = subprocess.Popen(
            ["ip", "netns", "exec", self.rx, "stdbuf", "-oL", "nft", "-a", "monitor", "trace"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        # Ready once a canary sent now shows up in the trace; resend until it does.
        end = time.monotonic() + deadline
        canary = 65535
        while time.monotonic() < end:
            self.send([Probe(ip_id=canary, src="10.200.0.2", dst="10.200.0.1", proto="icmp")])
            if self.wait_for([canary], lambda events: bool(events), 0.2):
                return
        raise RuntimeError("nft monitor trace did not report the canary packet in time")

    def _read(self) -> None:
        assert self._monitor is not None and self._monitor.stdout is not None
        for line in self._monitor.stdout:
            self._lines.put(line.rstrip("\n"))

    def _drain(self, timeout: float) -> None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._take(line)
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return

    def _take(self, line: str) -> None:
        found = _EVENT.match(line)
        if not found:
            return
        trace_id, family, table, chain, rest = found.groups()
        if rest.startswith("packet:"):
            event = TraceEvent(family, table, chain, "packet", text=rest)
            ip_id = _IP_ID.search(rest)
            if table == "ssn_tracer" and ip_id:
                events = [event]
                self._packets[trace_id] = events
                self._by_ip_id[int(ip_id.group(1))] = events
                return
        else:
            rule, policy = _RULE.match(rest), _POLICY.match(rest)
            if rule:
                handle = int(rule.group(2) or rule.group(3))
                event = TraceEvent(family, table, chain, "rule", handle, rule.group(4),
                                   rule.group(5), rule.group(1) or "")
            elif policy:
                event = TraceEvent(family, table, chain, "policy", verdict=policy.group(1))
            else:
                event = TraceEvent(family, table, chain, "other", text=rest)
        if trace_id in self._packets:
            self._packets[trace_id].append(event)

    def wait_for(self, ip_ids: list[int], done: object, deadline: float) -> bool:
        """Poll the trace until `done(events)` holds for every probe id, or the deadline."""
        end = time.monotonic() + deadline
        while True:
            if all(i in self._by_ip_id and done(self._by_ip_id[i])  # type: ignore[operator]
                   for i in ip_ids):
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._drain(min(left, 0.05))

    def trace_one(self, probe: Probe, deadline: float) -> bool:
        """Send a probe and then a sentinel; RX on the veth runs in order, so once the sentinel
        is traced every event of the probe has been read. False if it never showed up."""
        sentinel = Probe(ip_id=65000 + probe.ip_id % 500, src="10.200.0.2", dst="10.200.0.1",
                         proto="icmp")
        self._by_ip_id.pop(sentinel.ip_id, None)
        self.send([probe, sentinel])
        return self.wait_for([sentinel.ip_id], lambda events: bool(events), deadline)

    def events(self, ip_id: int) -> list[TraceEvent]:
        return list(self._by_ip_id.get(ip_id, []))

    def forget(self) -> None:
        self._packets.clear()
        self._by_ip_id.clear()

    # --- probes -----------------------------------------------------------------------------
    def send(self, probes: list[Probe]) -> None:
        assert self._sock is not None
        for probe in probes:
            ethertype = b"\x86\xdd" if ":" in probe.src else b"\x08\x00"
            self._sock.send(self.rx_mac + self.tx_mac + ethertype + build_packet(probe))


def run(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def _mac(ns: str, dev: str) -> bytes:
    text = run("ip", "-n", ns, "-o", "link", "show", dev)
    found = re.search(r"link/ether ([0-9a-f:]{17})", text)
    if not found:
        raise RuntimeError(f"no MAC address on {ns}/{dev}")
    return bytes.fromhex(found.group(1).replace(":", ""))


def _mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _packet_socket(ns: str, dev: str) -> socket.socket:
    """An AF_PACKET socket bound to `dev` inside namespace `ns` (it stays there after we
    switch this thread back)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((dev, 0))
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        os.close(own)
        os.close(target)
    return sock


def can_run() -> str | None:
    """Why this machine cannot run the lab, or None if it can."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "nft", "stdbuf", "sysctl"):
        if subprocess.run(["which", tool], capture_output=True, check=False).returncode:
            return f"needs {tool}"
    return None
