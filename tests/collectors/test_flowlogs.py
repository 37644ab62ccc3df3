"""Flow-log parsers: every format read field by field, bad lines reported, formats detected."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.flowlogs import (
    FlowRecord,
    LineError,
    UnknownFormatError,
    aws_vpc,
    azure_nsg,
    conntrack,
    detect_format,
    gcp_vpc,
    hubble,
    kernel_log,
    parse_any,
    ulogd,
)

DATA = Path(__file__).parent / "data" / "flowlogs"
REPO_ROOT = Path(__file__).resolve().parents[2]
# The same place tests/conftest.py's corpus_dir fixture looks (that conftest needs Django).
CORPUS = Path(os.environ.get("SEGSCOPE_CORPUS",
                            REPO_ROOT.parent / "shared" / "corpus")) / "flowlogs"
# When the samples were "collected": the year of syslog times, the time of clockless records.
OBSERVED = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
ENI = "eni-0a1b2c3d4e5f60718"


def at(hour: int, minute: int, second: int, micro: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, second, micro, tzinfo=UTC)


def sample(name: str) -> str:
    return (DATA / name).read_text()


def errors(result_errors: list[LineError]) -> list[tuple[int, str]]:
    return [(e.line, e.reason) for e in result_errors]


# --- AWS VPC flow logs ---------------------------------------------------------------------

def test_it_reads_custom_field_order_from_the_header() -> None:
    result = aws_vpc.parse(sample("aws_custom_v5.log"), "aws_custom_v5.log")

    assert result.records[:2] == [
        FlowRecord(at(3, 0, 0), at(3, 1, 0), "10.1.0.5", "10.2.0.7", 6, sport=49152, dport=5432,
                   packets=12, bytes=3400, verdict="ACCEPT", direction="egress", observer=ENI,
                   source_format="aws_vpc"),
        FlowRecord(at(3, 0, 0), at(3, 1, 0), "10.2.0.7", "10.1.0.5", 6, sport=5432, dport=49152,
                   packets=10, bytes=52000, verdict="ACCEPT", direction="ingress", observer=ENI,
                   source_format="aws_vpc"),
    ]


def test_it_reads_a_record_with_a_double_space_like_any_other() -> None:
    result = aws_vpc.parse(sample("aws_custom_v5.log"), "aws_custom_v5.log")

    assert result.records[2] == FlowRecord(
        at(3, 0, 1), at(3, 1, 1), "203.0.113.9", "10.1.0.5", 6, sport=51000, dport=22,
        packets=3, bytes=180, verdict="DROP", direction="ingress", observer=ENI,
        source_format="aws_vpc")


def test_it_calls_aws_reject_drop_because_security_groups_answer_nothing() -> None:
    line = "2 123456789010 eni-1 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1 61 REJECT OK"

    (record,) = aws_vpc.parse(line, "reject.log").records

    assert record.verdict == "DROP"


def test_it_reports_bad_aws_lines_with_their_numbers_and_keeps_the_rest() -> None:
    result = aws_vpc.parse(sample("aws_custom_v5.log"), "aws_custom_v5.log")

    assert len(result.records) == 4
    assert errors(result.errors) == [
        (5, "srcport is not a number: 'not-a-port'"),
        (8, "13 fields where the log format has 14"),
    ]
    assert str(result.errors[0]) == "aws_custom_v5.log:5: srcport is not a number: 'not-a-port'"


def test_it_skips_nodata_records_without_calling_them_errors() -> None:
    result = aws_vpc.parse(sample("aws_custom_v5.log"), "aws_custom_v5.log")

    assert errors(result.skipped) == [(6, "log-status NODATA: no flow in this interval")]


def test_it_normalises_ipv6_addresses_and_gives_icmp_no_ports() -> None:
    result = aws_vpc.parse(sample("aws_custom_v5.log"), "aws_custom_v5.log")

    assert result.records[3] == FlowRecord(
        at(3, 0, 2), at(3, 1, 2), "2001:db8::1", "2001:db8::2", 58, packets=2, bytes=208,
        verdict="ACCEPT", direction="ingress", observer=ENI, source_format="aws_vpc")


def test_it_reads_the_default_format_when_there_is_no_header() -> None:
    line = ("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
            "1795662000 1795662060 ACCEPT OK")

    (record,) = aws_vpc.parse(line, "default.log").records

    assert record == FlowRecord(
        at(3, 0, 0), at(3, 1, 0), "172.31.16.139", "172.31.16.21", 6, sport=20641, dport=22,
        packets=20, bytes=4249, verdict="ACCEPT", observer="eni-1235b8ca123456789",
        source_format="aws_vpc")


def test_it_asks_for_the_log_format_when_a_headerless_file_is_custom() -> None:
    result = aws_vpc.parse("3 eni-1 10.0.0.1 10.0.0.2\n", "custom.log")

    assert result.records == []
    assert errors(result.errors) == [(1, "4 fields where the default format has 14 and no header "
                                         "line named others; pass the custom log format "
                                         "(fields=...)")]


def test_it_starts_over_when_a_second_header_appears() -> None:
    text = ("version srcaddr dstaddr start\n5 10.0.0.1 10.0.0.2 1795662000\n"
            "srcaddr dstaddr start version\n10.0.0.3 10.0.0.4 1795662001 5\n")

    result = aws_vpc.parse(text, "concatenated.log")

    assert [(r.src, r.dst, r.start) for r in result.records] == [
        ("10.0.0.1", "10.0.0.2", at(3, 0, 0)), ("10.0.0.3", "10.0.0.4", at(3, 0, 1))]


def test_it_reads_cloudwatch_events_in_the_custom_format_given() -> None:
    events = [{"id": "1", "timestamp": 1795662000000, "message": "2 10.0.0.1 10.0.0.2"},
              {"id": "2", "timestamp": 1795662001500, "message": "2 10.0.0.2 10.0.0.1"}]
    doc = {"messageType": "DATA_MESSAGE", "logStream": "eni-0123", "logEvents": events}

    result = aws_vpc.parse(json.dumps(doc), "cw.json", fields="version srcaddr dstaddr")

    assert result.records == [
        FlowRecord(at(3, 0, 0), at(3, 0, 0), "10.0.0.1", "10.0.0.2", None, observer="eni-0123",
                   source_format="aws_vpc"),
        FlowRecord(at(3, 0, 1, 500000), at(3, 0, 1, 500000), "10.0.0.2", "10.0.0.1", None,
                   observer="eni-0123", source_format="aws_vpc"),
    ]


def test_it_accepts_the_log_format_as_aws_writes_it() -> None:
    result = aws_vpc.parse("5 10.0.0.1 10.0.0.2 6\n", "f.log", observed_at=OBSERVED,
                           fields="${version} ${srcaddr} ${dstaddr} ${protocol}")

    assert [(r.src, r.proto) for r in result.records] == [("10.0.0.1", 6)]


def test_it_stamps_records_without_times_with_observed_at() -> None:
    text = "instance-id interface-id srcaddr dstaddr\n- eni-1 10.0.1.5 10.0.0.220\n"

    (record,) = aws_vpc.parse(text, "nat.log", observed_at=OBSERVED).records

    assert (record.start, record.end, record.proto, record.packets, record.bytes) == (
        OBSERVED, OBSERVED, None, 1, 0)


def test_it_refuses_a_record_without_time_when_no_observed_at_is_given() -> None:
    text = "instance-id interface-id srcaddr dstaddr\n- eni-1 10.0.1.5 10.0.0.220\n"

    result = aws_vpc.parse(text, "nat.log")

    assert errors(result.errors) == [(2, "record has no start/end time; pass observed_at")]


def test_it_reads_text_bytes_and_lines_alike() -> None:
    text = sample("aws_custom_v5.log")

    as_text = aws_vpc.parse(text, "a.log")
    as_bytes = aws_vpc.parse(text.encode(), "a.log")
    as_lines = aws_vpc.parse(text.splitlines(keepends=True), "a.log")

    assert as_text == as_bytes == as_lines


# --- Azure NSG flow logs -------------------------------------------------------------------

NSG_MAC = "00:0d:3a:12:34:56"


def test_it_reads_nsg_tuples_with_their_rule_and_nic() -> None:
    result = azure_nsg.parse(sample("azure_nsg_v2.json"), "PT1H.json")

    assert result.records == [
        FlowRecord(at(3, 0, 0), at(3, 0, 0), "10.1.0.5", "10.2.0.7", 6, sport=49152,
                   dport=5432, packets=0, bytes=0, verdict="ACCEPT", direction="ingress",
                   observer=NSG_MAC, rule_ref="UserRule_allow-postgres",
                   source_format="azure_nsg"),
        FlowRecord(at(3, 0, 30), at(3, 0, 30), "10.1.0.5", "10.2.0.7", 6, sport=49152,
                   dport=5432, packets=22, bytes=55400, verdict="ACCEPT", direction="ingress",
                   observer=NSG_MAC, rule_ref="UserRule_allow-postgres",
                   source_format="azure_nsg"),
        FlowRecord(at(3, 0, 1), at(3, 0, 1), "203.0.113.9", "10.2.0.7", 6, sport=51000,
                   dport=22, packets=1, bytes=0, verdict="DROP", direction="ingress",
                   observer=NSG_MAC, rule_ref="DefaultRule_DenyAllInBound",
                   source_format="azure_nsg"),
    ]


def test_it_reports_a_bad_nsg_tuple_at_its_line_in_the_blob() -> None:
    result = azure_nsg.parse(sample("azure_nsg_v2.json"), "PT1H.json")

    assert errors(result.errors) == [(20, "unknown protocol 'X' (expected T or U)")]


def test_it_reads_bare_flow_tuple_lines() -> None:
    text = "# copied from a blob\n1795662000,192.0.2.95,10.1.0.4,51529,5358,T,I,D\n"

    (record,) = azure_nsg.parse(text, "tuples.txt").records

    assert record == FlowRecord(at(3, 0, 0), at(3, 0, 0), "192.0.2.95", "10.1.0.4", 6,
                                sport=51529, dport=5358, verdict="DROP", direction="ingress",
                                source_format="azure_nsg")


# --- Cilium Hubble --------------------------------------------------------------------------

def test_it_takes_the_allowing_hubble_policy_as_rule_ref() -> None:
    result = hubble.parse(sample("hubble.jsonl"), "hubble.jsonl")

    assert result.records[0] == FlowRecord(
        at(3, 0, 0, 123456), at(3, 0, 0, 123456), "10.1.0.5", "10.2.0.7", 6, sport=49152,
        dport=5432, verdict="ACCEPT", direction="ingress", observer="node-01",
        rule_ref="CiliumNetworkPolicy:ledger/allow-payments", source_format="hubble")


def test_it_names_the_policy_that_denied_a_dropped_flow() -> None:
    result = hubble.parse(sample("hubble.jsonl"), "hubble.jsonl")

    assert result.records[1] == FlowRecord(
        at(3, 0, 1), at(3, 0, 1), "10.1.0.5", "10.3.0.9", 17, sport=40000, dport=53,
        verdict="DROP", direction="egress", observer="node-01", rule_ref="payments/deny-dns",
        source_format="hubble")


def test_it_gives_the_drop_reason_when_no_policy_is_named() -> None:
    result = hubble.parse(sample("hubble.jsonl"), "hubble.jsonl")

    assert result.records[2] == FlowRecord(
        at(3, 0, 4), at(3, 0, 4), "10.1.0.5", "10.2.0.7", 1, icmp_type=8, icmp_code=0,
        verdict="DROP", observer="node-02", rule_ref="POLICY_DENIED", source_format="hubble")


def test_it_skips_hubble_status_events_and_l2_flows_and_reports_broken_json() -> None:
    result = hubble.parse(sample("hubble.jsonl"), "hubble.jsonl")

    assert errors(result.skipped) == [(3, "'node_status' event, not a flow"),
                                      (6, "flow without an IP layer (L2 or socket event)")]
    assert errors(result.errors) == [(4, "invalid JSON: Expecting ',' delimiter")]


# --- conntrack ------------------------------------------------------------------------------

def test_it_reads_conntrack_events_with_their_timestamps() -> None:
    result = conntrack.parse(sample("conntrack_events.txt"), "conntrack.txt")

    assert result.records[0] == FlowRecord(
        at(3, 0, 0, 250000), at(3, 0, 0, 250000), "10.1.0.5", "10.2.0.7", 6, sport=49152,
        dport=5432, verdict="ACCEPT", source_format="conntrack")
    assert result.records[2] == FlowRecord(
        at(3, 1, 1), at(3, 1, 1), "10.1.0.5", "10.2.0.7", 1, icmp_type=8, icmp_code=0,
        verdict="ACCEPT", source_format="conntrack")


def test_it_sums_both_directions_of_conntrack_counters() -> None:
    result = conntrack.parse(sample("conntrack_events.txt"), "conntrack.txt")

    assert (result.records[1].packets, result.records[1].bytes) == (12 + 10, 3400 + 52000)


def test_it_skips_expectations_and_reports_bad_conntrack_entries() -> None:
    result = conntrack.parse(sample("conntrack_events.txt"), "conntrack.txt")

    assert errors(result.errors) == [(4, "port out of range: 99999")]
    assert errors(result.skipped) == [(5, "expectation (conntrack -E expect), not a flow")]


def test_it_stamps_a_conntrack_listing_with_observed_at() -> None:
    text = ("ipv4     2 udp      17 29 src=10.1.0.5 dst=10.2.0.53 sport=40000 dport=53 "
            "src=10.2.0.53 dst=10.1.0.5 sport=53 dport=40000 mark=0 zone=0 use=2\n"
            "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n")

    result = conntrack.parse(text, "conntrack.txt", observed_at=OBSERVED)

    assert result.records == [FlowRecord(OBSERVED, OBSERVED, "10.1.0.5", "10.2.0.53", 17,
                                         sport=40000, dport=53, verdict="ACCEPT",
                                         source_format="conntrack")]
    assert errors(result.skipped) == [(2, "conntrack summary line")]


# --- ulogd2 JSON ----------------------------------------------------------------------------

def test_it_takes_the_nflog_prefix_as_rule_ref_and_reads_the_verdict_in_it() -> None:
    result = ulogd.parse(sample("ulogd.json"), "ulogd.json")

    assert result.records[0] == FlowRecord(
        at(3, 0, 0, 500000), at(3, 0, 0, 500000), "203.0.113.9", "192.0.2.11", 6, sport=51000,
        dport=22, packets=1, bytes=60, verdict="DROP", direction="ingress", observer="node-01",
        rule_ref="fw-in-drop", source_format="ulogd")


def test_it_prefers_the_ulogd_action_to_the_prefix() -> None:
    result = ulogd.parse(sample("ulogd.json"), "ulogd.json")

    assert result.records[1] == FlowRecord(
        at(3, 0, 1), at(3, 0, 1), "192.0.2.11", "198.51.100.7", 1, icmp_type=8, icmp_code=0,
        packets=1, bytes=84, verdict="ACCEPT", direction="egress", observer="node-01",
        rule_ref="fw-out", source_format="ulogd")


def test_it_reports_ulogd_packets_without_addresses() -> None:
    result = ulogd.parse(sample("ulogd.json"), "ulogd.json")

    assert errors(result.errors) == [
        (3, "packet has no src_ip/dest_ip (is IP2STR in the ulogd stack?)")]


# --- kernel LOG lines -----------------------------------------------------------------------

def kernel_sample() -> list[FlowRecord]:
    return kernel_log.parse(sample("kern.log"), "kern.log", observed_at=OBSERVED).records


def test_it_takes_the_log_prefix_as_rule_ref() -> None:
    assert kernel_sample()[0] == FlowRecord(
        at(3, 0, 5), at(3, 0, 5), "203.0.113.9", "192.0.2.11", 6, sport=51000, dport=22,
        packets=1, bytes=60, verdict="DROP", direction="ingress", observer="node-01",
        rule_ref="fw:INPUT:DROP:", source_format="kernel_log")


def test_it_reads_icmp_type_and_code_of_an_outgoing_packet() -> None:
    assert kernel_sample()[1] == FlowRecord(
        at(3, 0, 7), at(3, 0, 7), "192.0.2.11", "198.51.100.7", 1, icmp_type=8, icmp_code=0,
        packets=1, bytes=84, verdict="REJECT", direction="egress", observer="node-01",
        rule_ref="REJECT-OUT", source_format="kernel_log")


def test_it_keeps_trace_lines_without_guessing_a_verdict() -> None:
    assert kernel_sample()[2] == FlowRecord(
        at(3, 0, 8), at(3, 0, 8), "10.1.0.5", "10.2.0.7", 17, sport=40000, dport=53,
        packets=1, bytes=60, verdict=None, direction="forward", observer="node-01",
        rule_ref="TRACE: filter:FORWARD:rule:3", source_format="kernel_log")


def test_it_shortens_the_expanded_ipv6_addresses_the_kernel_prints() -> None:
    record = kernel_sample()[3]

    assert (record.src, record.dst, record.bytes) == ("2001:db8::9", "2001:db8::11", 80)


def test_it_skips_other_kernel_messages_and_reports_bad_log_lines() -> None:
    result = kernel_log.parse(sample("kern.log"), "kern.log", observed_at=OBSERVED)

    assert errors(result.skipped) == [(2, "not a netfilter LOG line")]
    assert errors(result.errors) == [(6, "not an IP address: 'not-an-address'")]


LOG_TAIL = "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 PROTO=TCP SPT=1000 DPT=22"


def test_it_takes_the_year_of_a_syslog_time_from_observed_at() -> None:
    line = f"Dec 31 23:59:59 node-01 kernel: [ 1.0] DROP {LOG_TAIL}"

    (record,) = kernel_log.parse(line, "kern.log",
                                 observed_at=datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC)).records

    assert record.start == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_it_needs_observed_at_for_a_syslog_time_without_year() -> None:
    result = kernel_log.parse(f"Nov 26 03:00:00 node-01 kernel: DROP {LOG_TAIL}", "kern.log")

    assert errors(result.errors) == [(1, "syslog time has no year; pass observed_at")]


def test_it_reads_rfc3339_syslog_times() -> None:
    line = f"2026-11-26T05:00:00.250000+02:00 node-01 kernel: DROP: {LOG_TAIL}"

    (record,) = kernel_log.parse(line, "kern.log").records

    assert (record.start, record.rule_ref, record.verdict) == (at(3, 0, 0, 250000), "DROP:",
                                                               "DROP")


def test_it_stamps_dmesg_lines_with_observed_at() -> None:
    (record,) = kernel_log.parse(f"[12345.678901] ACCEPT-SSH {LOG_TAIL}", "dmesg.txt",
                                 observed_at=OBSERVED).records

    assert (record.start, record.observer, record.rule_ref, record.verdict) == (
        OBSERVED, None, "ACCEPT-SSH", "ACCEPT")


def test_it_finds_the_log_line_behind_a_grep_file_name() -> None:
    line = f"kern.log.1:Nov 26 03:00:00 node-01 kernel: [ 1.0] Shorewall:net:DROP:{LOG_TAIL}"

    (record,) = kernel_log.parse(line, "grep.txt", observed_at=OBSERVED).records

    assert (record.start, record.observer, record.rule_ref, record.verdict) == (
        at(3, 0, 0), "node-01", "Shorewall:net:DROP:", "DROP")


# --- GCP VPC flow logs and firewall logs ----------------------------------------------------

def test_it_takes_the_reporting_vm_as_observer_of_a_gcp_flow() -> None:
    result = gcp_vpc.parse(sample("gcp_firewall.json"), "gcp.json")

    assert result.records[1] == FlowRecord(
        at(3, 0, 1), at(3, 0, 31), "10.128.0.7", "10.128.0.9", 6, sport=40000, dport=5432,
        packets=22, bytes=52000, direction="egress", observer="node-01",
        source_format="gcp_vpc")


def test_it_reads_verdict_and_rule_of_a_gcp_firewall_entry() -> None:
    result = gcp_vpc.parse(sample("gcp_firewall.json"), "gcp.json")

    assert result.records[0] == FlowRecord(
        at(3, 0, 0, 250000), at(3, 0, 0, 250000), "203.0.113.9", "10.128.0.7", 6, sport=51000,
        dport=22, verdict="DROP", direction="ingress", observer="node-01",
        rule_ref="network:default/firewall:deny-ssh", source_format="gcp_vpc")


def test_it_reports_a_gcp_entry_without_connection_at_its_first_line() -> None:
    result = gcp_vpc.parse(sample("gcp_firewall.json"), "gcp.json")

    assert errors(result.errors) == [(28, "entry has no jsonPayload.connection")]


# --- detection --------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("aws_custom_v5.log", "aws_vpc"), ("azure_nsg_v2.json", "azure_nsg"),
    ("hubble.jsonl", "hubble"), ("conntrack_events.txt", "conntrack"), ("ulogd.json", "ulogd"),
    ("kern.log", "kernel_log"), ("gcp_firewall.json", "gcp_vpc"),
])
def test_it_detects_the_format_from_content_not_from_the_name(name: str, expected: str) -> None:
    assert detect_format(sample(name), "upload.bin") == expected


@pytest.mark.parametrize(("head", "expected"), [
    ("2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK\n", "aws_vpc"),
    ("1795662000,192.0.2.95,10.1.0.4,51529,5358,T,I,D,B,,,,\n", "azure_nsg"),
    ("tcp      6 431982 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 use=1\n",
     "conntrack"),
    ("    [NEW] 300 proto=6 src=10.0.0.1 dst=10.0.0.2 sport=0 dport=2049\n", "conntrack"),
    ("[ 12.5] DROP IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 PROTO=2\n", "kernel_log"),
    ('[\n  {"flow": {"verdict": "DROPPED"}}\n]\n', "hubble"),
])
def test_it_tells_bracketed_text_lines_from_json_arrays(head: str, expected: str) -> None:
    assert detect_format(head, "x") == expected


def test_it_names_the_file_when_the_format_is_unknown() -> None:
    with pytest.raises(UnknownFormatError, match=r"^notes\.txt:1:1: not a flow log"):
        parse_any("hello world\n", "notes.txt")


def test_it_names_the_file_when_json_is_no_known_flow_log() -> None:
    with pytest.raises(UnknownFormatError, match=r"^data\.json:1:1: JSON, but not"):
        detect_format('{"hello": "world"}', "data.json")


def test_it_parses_a_headerless_custom_aws_file_when_given_its_fields() -> None:
    result = parse_any("- eni-1 10.0.1.5 10.0.0.220\n", "nat.log", observed_at=OBSERVED,
                       aws_fields="instance-id interface-id srcaddr dstaddr")

    assert (result.source_format, len(result.records)) == ("aws_vpc", 1)


# --- the shared corpus of real captures -----------------------------------------------------

NOT_FLOW_LOGS = ("FORMAT.md", "LICENSE", ".md", ".proto")
# Format notes the corpus cannot carry itself: the CloudWatch file was exported with this
# custom format (opentelemetry-collector-contrib configures it the same way in its tests).
CORPUS_FIELDS = {"valid_vpc_flow_cw_custom.json": "version interface-id srcaddr dstaddr"}
# Files that hold only lines without flows: every line must be skipped with a reason.
NO_FLOWS = {"valid_vpc_flow_log_nodata.log", "conntrack-tools_manual_conntrack-E-expect.txt"}


def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS} (set SEGSCOPE_CORPUS)")
    return CORPUS


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and not (
        p.name.startswith("LICENSE") or p.name.endswith(NOT_FLOW_LOGS)))


def parse_corpus(path: Path) -> tuple[int, int, list[str]]:
    result = parse_any(path.read_bytes(), path.name, observed_at=OBSERVED,
                       aws_fields=CORPUS_FIELDS.get(path.name))
    return len(result.records), len(result.skipped), [str(e) for e in result.errors]


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files() or [pytest.param(CORPUS, id="corpus-missing")],
                         ids=lambda p: p.name)
def test_it_imports_every_corpus_file_without_bad_lines(path: Path) -> None:
    corpus()

    records, skipped, bad_lines = parse_corpus(path)

    assert bad_lines == []
    if path.name in NO_FLOWS:
        assert (records, skipped > 0) == (0, True)
    else:
        assert records > 0


@pytest.mark.corpus
def test_it_finds_the_record_counts_the_aws_format_notes_give() -> None:
    expected = {"awsdocs_default_v2.log": (5, 2), "awsdocs_custom_v3_tcpflags.log": (8, 0),
                "awsdocs_custom_nat_gateway.log": (6, 0),
                "awsdocs_custom_v3_transit_gateway.log": (4, 0),
                "awsdocs_custom_v5_traffic_path.log": (2, 0)}

    found = {name: parse_corpus(corpus() / "aws_vpc" / name)[:2] for name in expected}

    assert found == expected


@pytest.mark.corpus
def test_it_reads_the_double_space_record_of_the_aws_docs() -> None:
    path = corpus() / "aws_vpc" / "awsdocs_custom_v3_tcpflags.log"

    last = aws_vpc.parse(path.read_text(), path.name).records[-1]

    assert (last.src, last.sport, last.dst, last.dport, last.packets, last.bytes) == (
        "10.0.0.62", 5001, "52.213.180.42", 43638, 14, 967)


@pytest.mark.corpus
def test_it_matches_the_bandwidth_totals_microsoft_documents() -> None:
    path = corpus() / "azure_nsg" / "msdocs_nsg_v2_bandwidth_tuples.txt"

    records = azure_nsg.parse(path.read_text(), path.name).records

    assert (sum(r.packets for r in records), sum(r.bytes for r in records)) == (9125, 5256000)


@pytest.mark.corpus
def test_it_imports_every_line_of_the_psad_kernel_logs() -> None:
    folder = corpus() / "iptables_LOG_kernel" / "psad_test_scans"

    for path in corpus_files():
        if path.parent == folder:
            lines = sum(1 for line in path.read_text().splitlines() if line.strip())
            assert parse_corpus(path)[0] == lines, path.name
