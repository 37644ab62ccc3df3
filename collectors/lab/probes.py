"""Raw probes: IPv4 and IPv6 packets crafted with correct checksums, and a sender that sends the
IPv4 ones from inside a namespace (IPv6 ones go out as Ethernet frames, see tests/kernel).

Run as a script (`probes.py serve IFACE`) this module is the sender itself: it reads packets as
hex lines on stdin, sends each out of IFACE through a raw socket with IP_HDRINCL, and answers
every `sync` line with `ok` once everything before it has left.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

TCP_FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
                 "ECE": 0x40, "CWR": 0x80}
PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17}
SYNC_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Probe:
    """One packet to send; `ip_id` names it in the kernel's trace (the IPv4 id, or the IPv6
    flow label). For IPv6, "icmp" is ICMPv6 and icmp_type takes ICMPv6 numbers (128: echo
    request)."""

    ip_id: int
    src: str
    dst: str
    proto: str
    sport: int = 0
    dport: int = 0
    tcp_flags: int = TCP_FLAG_BITS["SYN"]
    icmp_type: int = 8
    icmp_code: int = 0
    icmp_id: int = 0
    ttl: int = 64


def tcp_flag_bits(text: str) -> int:
    """`SYN,ACK` (or `SYN|ACK`) to the bits of the TCP flags byte."""
    bits = 0
    for name in text.upper().replace("|", ",").split(","):
        if name.strip():
            bits |= TCP_FLAG_BITS[name.strip()]
    return bits


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`, padded with a zero byte to an even length."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 16:  # IPv6 (RFC 8200 section 8.1)
        return src + dst + struct.pack("!IxxxB", length, proto)
    return src + dst + struct.pack("!BBH", 0, proto, length)


def tcp_segment(src: bytes, dst: bytes, sport: int, dport: int, flags: int) -> bytes:
    """A 20-byte TCP header with the given flags and a correct checksum."""
    seq = (sport << 16 | dport) & 0xFFFFFFFF
    ack = 1 if flags & TCP_FLAG_BITS["ACK"] else 0
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    value = checksum(_pseudo_header(src, dst, 6, len(header)) + header)
    return header[:16] + struct.pack("!H", value) + header[18:]


def udp_datagram(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes = b"ssk") -> bytes:
    """A UDP header and payload with a correct checksum (0 is sent as 0xffff)."""
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    value = checksum(_pseudo_header(src, dst, 17, length) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", value) + datagram[8:]


def icmp_message(icmp_type: int, code: int, ident: int, sequence: int = 1) -> bytes:
    """An ICMP message in the echo layout (type, code, checksum, id, sequence) plus 8 bytes."""
    message = struct.pack("!BBHHH", icmp_type, code, 0, ident & 0xFFFF, sequence) + b"ssk-lab!"
    return message[:2] + struct.pack("!H", checksum(message)) + message[4:]


def icmpv6_message(src: bytes, dst: bytes, icmp_type: int, code: int, ident: int,
                   sequence: int = 1) -> bytes:
    """An ICMPv6 message in the echo layout, its checksum over the IPv6 pseudo-header."""
    message = struct.pack("!BBHHH", icmp_type, code, 0, ident & 0xFFFF, sequence) + b"ssk-lab!"
    value = checksum(_pseudo_header(src, dst, 58, len(message)) + message)
    return message[:2] + struct.pack("!H", value) + message[4:]


def ipv4_header(src: bytes, dst: bytes, proto: int, payload_length: int, ip_id: int,
                ttl: int = 64) -> bytes:
    """A 20-byte IPv4 header (no options, DF clear) with a correct header checksum."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_length, ip_id, 0, ttl, proto, 0,
                         src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def build_packet(probe: Probe) -> bytes:
    """The whole IPv4 or IPv6 packet for `probe`, by its addresses. An IPv4 packet is ready for
    a raw socket with IP_HDRINCL; an IPv6 one (no extension headers) carries the probe's ip_id
    as its flow label, and "icmp" means ICMPv6 there."""
    source, destination = ipaddress.ip_address(probe.src), ipaddress.ip_address(probe.dst)
    if source.version != destination.version:
        raise ValueError(f"probe {probe.ip_id}: {probe.src} and {probe.dst} are of different "
                         "IP versions")
    src, dst = source.packed, destination.packed
    six = source.version == 6
    if probe.proto == "tcp":
        payload = tcp_segment(src, dst, probe.sport, probe.dport, probe.tcp_flags)
    elif probe.proto == "udp":
        payload = udp_datagram(src, dst, probe.sport, probe.dport)
    elif probe.proto == "icmp" and six:
        payload = icmpv6_message(src, dst, probe.icmp_type, probe.icmp_code,
                                 probe.icmp_id or probe.ip_id)
    elif probe.proto == "icmp":
        payload = icmp_message(probe.icmp_type, probe.icmp_code, probe.icmp_id or probe.ip_id)
    else:
        raise ValueError(f"cannot craft protocol {probe.proto!r}")
    number = 58 if six and probe.proto == "icmp" else PROTOCOL_NUMBERS[probe.proto]
    if six:
        header = struct.pack("!IHBB", (6 << 28) | (probe.ip_id & 0xFFFFF), len(payload), number,
                             probe.ttl)
        return header + src + dst + payload
    return ipv4_header(src, dst, number, len(payload), probe.ip_id, probe.ttl) + payload


class Sender:
    """A long-lived helper inside one namespace that sends raw packets out of one interface."""

    def __init__(self, netns: str, iface: str, python: str = sys.executable) -> None:
        self.netns = netns
        self.iface = iface
        self._process = subprocess.Popen(
            ["ip", "netns", "exec", netns, python, "-P", "-u", __file__, "serve", iface],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)

    def send(self, packets: Iterable[bytes], timeout: float = SYNC_TIMEOUT) -> None:
        """Send `packets` in order and return once the helper has handed all to the kernel."""
        assert self._process.stdin is not None and self._process.stdout is not None
        lines = [packet.hex() + "\n" for packet in packets]
        self._process.stdin.write("".join(lines) + "sync\n")
        self._process.stdin.flush()
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        answer = self._process.stdout.readline().strip() if ready else ""
        if answer != "ok":
            error = answer or self._stderr() or f"no answer within {timeout} s"
            raise RuntimeError(f"sender in {self.netns} ({self.iface}): {error}")

    def _stderr(self) -> str:
        if self._process.poll() is None or self._process.stderr is None:
            return ""
        return self._process.stderr.read().strip()

    def close(self) -> None:
        """Stop the helper (closing its stdin ends its loop)."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(iface: str, stdin: IO[str], stdout: IO[str]) -> None:
    """The helper's loop: hex packet lines out of `iface`; `ok` after each `sync`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    error = ""
    for line in stdin:
        line = line.strip()
        if line == "sync":
            stdout.write((f"error {error}" if error else "ok") + "\n")
            stdout.flush()
            error = ""
        elif line and not error:
            packet = bytes.fromhex(line)
            if packet[0] >> 4 != 4:
                error = "only IPv4 packets can be sent through the raw IPv4 socket"
                continue
            destination = socket.inet_ntoa(packet[16:20])
            try:
                sock.sendto(packet, (destination, 0))
            except OSError as exc:
                error = f"sending to {destination}: {exc}"


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: probes.py serve IFACE")
    serve(sys.argv[2], sys.stdin, sys.stdout)
