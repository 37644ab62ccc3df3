"""The lab's pure pieces: checksums, packet crafting, trace parsing, verdicts, the generator.

These need no root: they read a trace captured from `xtables-monitor --trace` in the lab
(data/xtables-monitor-trace.txt, rules in data/lab-rules.*).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from collectors.lab.netns import LoadedRuleset, read_loaded_ruleset
from collectors.lab.probes import Probe, build_packet, checksum, tcp_flag_bits
from collectors.lab.tracing import (
    PacketLine,
    ProbeTrace,
    TraceEvent,
    kernel_verdict,
    parse_trace_line,
)
from tests.kernel.generator import generate

DATA = Path(__file__).parent / "data"


def captured_traces() -> dict[int, ProbeTrace]:
    """The captured monitor output grouped by IP id, as the live monitor groups it."""
    traces: dict[int, ProbeTrace] = {}
    owner: dict[str, int | None] = {}
    for line in (DATA / "xtables-monitor-trace.txt").read_text().splitlines():
        parsed = parse_trace_line(line)
        if isinstance(parsed, PacketLine):
            owner[parsed.trace_id] = parsed.ip_id if parsed.received else None
            target = owner[parsed.trace_id]
            if target is not None:
                traces.setdefault(target, ProbeTrace()).packets.append(parsed)
        elif isinstance(parsed, TraceEvent):
            event_owner = owner.get(parsed.trace_id)
            if event_owner is not None:
                traces.setdefault(event_owner, ProbeTrace()).events.append(parsed)
    return traces


def loaded() -> LoadedRuleset:
    return read_loaded_ruleset((DATA / "lab-rules.nft.json").read_text(),
                               (DATA / "lab-rules.iptables-save").read_text(), "")


def test_the_checksum_of_a_known_ipv4_header_is_the_one_on_the_wire() -> None:
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")

    assert checksum(header) == 0xB861


def test_the_checksum_pads_an_odd_length_with_a_zero_byte() -> None:
    assert checksum(b"\x01") == checksum(b"\x01\x00") == 0xFEFF


def test_a_crafted_tcp_syn_carries_valid_ip_and_tcp_checksums() -> None:
    probe = Probe(ip_id=4242, src="10.9.1.1", dst="192.0.2.5", proto="tcp", sport=40000,
                  dport=22)

    packet = build_packet(probe)

    assert checksum(packet[:20]) == 0
    pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(packet) - 20)
    assert checksum(pseudo + packet[20:]) == 0
    assert struct.unpack("!H", packet[4:6])[0] == 4242
    assert packet[20 + 13] == tcp_flag_bits("SYN")


def test_crafted_udp_and_icmp_packets_carry_valid_checksums() -> None:
    udp = build_packet(Probe(ip_id=1, src="10.0.0.1", dst="192.0.2.1", proto="udp", sport=53,
                             dport=5353))
    icmp = build_packet(Probe(ip_id=2, src="10.0.0.1", dst="192.0.2.1", proto="icmp",
                              icmp_type=13))

    pseudo = udp[12:20] + struct.pack("!BBH", 0, 17, len(udp) - 20)
    assert checksum(pseudo + udp[20:]) == 0
    assert checksum(icmp[20:]) == 0 and icmp[20] == 13


# Checksums of these probes as an independent implementation (scapy 2.6) computes them.
@pytest.mark.parametrize(("proto", "number", "offset", "expected"), [
    ("tcp", 6, 16, 0x7C9D), ("udp", 17, 6, 0x870B), ("icmp", 58, 2, 0xB2ED)])
def test_crafted_ipv6_packets_carry_the_id_as_flow_label_and_known_checksums(
        proto: str, number: int, offset: int, expected: int) -> None:
    packet = build_packet(Probe(ip_id=0x12345, src="fd00:200::2", dst="fd00:51::9", proto=proto,
                                sport=40000, dport=443, icmp_type=128, ttl=9))

    version_label, length, next_header, hop_limit = struct.unpack("!IHBB", packet[:8])
    assert (version_label >> 28, version_label & 0xFFFFF) == (6, 0x12345)
    assert (length, next_header, hop_limit) == (len(packet) - 40, number, 9)
    assert struct.unpack("!H", packet[40 + offset:42 + offset])[0] == expected


def test_a_probe_between_ip_versions_is_refused() -> None:
    with pytest.raises(ValueError, match="different IP versions"):
        build_packet(Probe(ip_id=1, src="fd00:200::2", dst="10.0.0.1", proto="tcp"))


def test_a_trace_line_names_table_chain_handle_verdict_and_jump_target() -> None:
    line = (" TRACE: 2 f3fcd214 filter:INPUT:rule:0x6:JUMP:ssh  -4 -t filter -A INPUT "
            "-s 10.9.0.0/16 -j ssh")

    event = parse_trace_line(line)

    assert event == TraceEvent("f3fcd214", "filter", "INPUT", "rule", 6, "JUMP", "ssh",
                               "-4 -t filter -A INPUT -s 10.9.0.0/16 -j ssh")


def test_a_verdict_printed_as_a_number_gets_its_name() -> None:
    event = parse_trace_line(" TRACE: 2 9b50374c filter:ssh:rule:0xd:0xfffffffb  -4 -t filter "
                             "-A ssh -j RETURN")

    assert isinstance(event, TraceEvent) and event.verdict == "RETURN"


def test_a_policy_line_has_no_handle() -> None:
    event = parse_trace_line(" TRACE: 2 9b50374c filter:INPUT:policy:DROP ")

    assert isinstance(event, TraceEvent)
    assert (event.kind, event.handle, event.verdict) == ("policy", None, "DROP")


def test_a_packet_line_carries_the_ip_id_and_the_interfaces() -> None:
    line = ("PACKET: 2 562d8c3d IN=cali1234abcd OUT=eth1 MACSRC=f6:f9:c9:9f:53:2e MACPROTO=0800 "
            "SRC=10.2.1.1 DST=198.51.100.5 LEN=40 TOS=0x0 TTL=63 ID=106 SPORT=40005 DPORT=443 SYN")

    packet = parse_trace_line(line)

    assert isinstance(packet, PacketLine)
    assert (packet.ip_id, packet.fields["IN"], packet.fields["OUT"]) == (106, "cali1234abcd",
                                                                        "eth1")
    assert packet.flags == ("SYN",) and packet.received


def test_a_line_of_another_kind_is_ignored() -> None:
    assert parse_trace_line("EVENT: nft: NEW table ip filter") is None


def test_a_drop_on_a_reject_rule_is_a_reject_by_that_rule() -> None:
    verdict = kernel_verdict(captured_traces()[101], loaded())

    assert verdict.verdict == "REJECT"
    assert verdict.decided_by == {"table": "filter", "chain": "ssh", "rule_number": 1}


def test_a_return_to_the_base_chain_ends_at_its_policy() -> None:
    verdict = kernel_verdict(captured_traces()[102], loaded())

    assert verdict.decided_by == {"table": "filter", "chain": "INPUT", "policy": True}


def test_an_accept_is_decided_by_the_last_accepting_rule_on_its_hook() -> None:
    verdict = kernel_verdict(captured_traces()[104], loaded())

    assert (verdict.verdict, verdict.hook) == ("ACCEPT", "INPUT")
    assert verdict.decided_by == {"table": "filter", "chain": "web", "rule_number": 1}
    assert verdict.nat == {"dst": "192.0.2.9", "dport": 80}


def test_a_forwarded_packet_is_decided_on_the_forward_hook() -> None:
    verdict = kernel_verdict(captured_traces()[106], loaded())

    assert (verdict.verdict, verdict.hook) == ("ACCEPT", "FORWARD")
    assert verdict.decided_by == {"table": "filter", "chain": "FORWARD", "rule_number": 1}


def test_the_trace_is_complete_only_once_the_packet_is_dropped_or_through() -> None:
    traces = captured_traces()
    unfinished = ProbeTrace(events=traces[103].events[:3])

    assert traces[103].complete and traces[105].complete
    assert not unfinished.complete


def test_the_generator_gives_the_same_rule_set_and_probes_for_a_seed() -> None:
    first, second = generate(7), generate(7)

    assert first == second
    assert generate(8).iptables_restore != first.iptables_restore


def test_generated_probes_have_unique_ids_and_connection_tuples() -> None:
    for seed in range(20):
        probes = generate(seed).probes
        ids = [probe.ip_id for _, probe in probes]
        tuples = [(p.src, p.dst, p.proto, p.sport, p.dport) for _, p in probes
                  if p.proto != "icmp"]
        assert len(set(ids)) == len(ids)
        assert len(set(tuples)) == len(tuples)
