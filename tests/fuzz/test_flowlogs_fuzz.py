"""Flow-log parsers under fuzzing: no input makes them raise, what they keep is valid, and every
line they refuse is named with its file and line."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.flowlogs import (
    FlowRecord,
    ParseResult,
    UnknownFormatError,
    aws_vpc,
    azure_nsg,
    conntrack,
    gcp_vpc,
    hubble,
    kernel_log,
    parse_any,
    ulogd,
    values,
)
from collectors.flowlogs.record import DIRECTIONS, VERDICTS
from tests.fuzz.documents import FUZZ, REPO_ROOT, damaged, mutated_json, texts

DATA = REPO_ROOT / "tests" / "collectors" / "data" / "flowlogs"
OBSERVED = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
PARSERS: dict[str, Callable[..., ParseResult]] = {
    "aws_vpc": aws_vpc.parse, "gcp_vpc": gcp_vpc.parse, "azure_nsg": azure_nsg.parse,
    "hubble": hubble.parse, "conntrack": conntrack.parse, "ulogd": ulogd.parse,
    "kernel_log": kernel_log.parse,
}
SAMPLE_LINES = [line for p in sorted(DATA.iterdir()) for line in p.read_text().splitlines()]
# Whole real files: the samples and the demo's ulogd2 logs.
SAMPLE_FILES = texts("tests/collectors/data/flowlogs/*", "fixtures/demo/flows/*")
# Keys the JSON formats look for, so that random documents reach past the first check.
JSON_KEYS = [
    "records", "properties", "flows", "rule", "mac", "flowTuples", "flow", "IP", "source",
    "destination", "l4", "TCP", "UDP", "ICMPv4", "ICMPv6", "source_port", "destination_port",
    "type", "code", "verdict", "time", "node_name", "drop_reason_desc", "egress_denied_by",
    "ingress_allowed_by", "name", "namespace", "jsonPayload", "connection", "src_ip", "dest_ip",
    "src_port", "dest_port", "protocol", "start_time", "end_time", "bytes_sent",
    "packets_sent", "reporter", "disposition", "rule_details", "timestamp", "logEvents",
    "message", "logStream", "oob.time.sec", "oob.time.usec", "oob.prefix", "ip.protocol",
    "raw.pktlen", "raw.pktcount", "oob.hook", "action",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(SAMPLE_LINES[:20] + ["10.0.0.1", "2001:db8::1"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(JSON_KEYS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=25)


@st.composite
def mutated_lines(draw: st.DrawFn) -> str:
    """Real sample lines with a few characters replaced, cut or doubled."""
    lines = draw(st.lists(st.sampled_from(SAMPLE_LINES), min_size=1, max_size=4))
    out = []
    for line in lines:
        for _ in range(draw(st.integers(0, 3))):
            pos = draw(st.integers(0, len(line)))
            cut = draw(st.integers(0, 4))
            line = line[:pos] + draw(st.text(max_size=3)) + line[pos + cut:]
        out.append(line)
    return "\n".join(out)


def json_documents() -> list[Any]:
    """The JSON sample files as documents; a JSON Lines file as the list of its lines."""
    docs = []
    for path in sorted(DATA.glob("*.json*")):
        text = path.read_text()
        try:
            docs.append(json.loads(text))
        except json.JSONDecodeError:
            docs.append([json.loads(line) for line in text.splitlines() if is_json(line)])
    return docs


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def assert_valid(result: ParseResult) -> None:
    for record in result.records:
        assert isinstance(record, FlowRecord)
        assert record.start.tzinfo is UTC and record.end.tzinfo is UTC
        assert str(ipaddress.ip_address(record.src)) == record.src
        assert str(ipaddress.ip_address(record.dst)) == record.dst
        assert record.proto is None or 0 <= record.proto <= 255
        for port in (record.sport, record.dport):
            assert port is None or 0 <= port <= 65535
        assert record.packets >= 0 and record.bytes >= 0
        assert record.verdict is None or record.verdict in VERDICTS
        assert record.direction is None or record.direction in DIRECTIONS
    for issue in result.errors + result.skipped:
        assert issue.filename.startswith("fuzz.") and issue.line >= 1 and issue.reason


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(text=st.text())
def test_it_never_raises_on_random_text(name: str, text: str) -> None:
    assert_valid(PARSERS[name](text, "fuzz.txt", observed_at=OBSERVED))


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(data=st.binary())
def test_it_never_raises_on_random_bytes(name: str, data: bytes) -> None:
    assert_valid(PARSERS[name](data, "fuzz.bin"))


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(text=mutated_lines())
def test_it_never_raises_on_damaged_real_lines(name: str, text: str) -> None:
    assert_valid(PARSERS[name](text, "fuzz.txt", observed_at=OBSERVED))


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(doc=JSON_VALUES, lines=st.booleans())
def test_it_never_raises_on_random_json(name: str, doc: Any, lines: bool) -> None:
    text = "\n".join(json.dumps(d) for d in doc) if lines and isinstance(doc, list) else (
        json.dumps(doc, indent=2))

    assert_valid(PARSERS[name](text, "fuzz.json", observed_at=OBSERVED))


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(text=damaged(SAMPLE_FILES, st.sampled_from(SAMPLE_LINES)))
def test_it_never_raises_on_damaged_real_files(name: str, text: str) -> None:
    assert_valid(PARSERS[name](text, "fuzz.txt", observed_at=OBSERVED))


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(doc=mutated_json(json_documents(), JSON_VALUES), lines=st.booleans())
def test_it_never_raises_on_real_json_files_with_values_changed(name: str, doc: Any,
                                                                lines: bool) -> None:
    text = "\n".join(json.dumps(d) for d in doc) if lines and isinstance(doc, list) else (
        json.dumps(doc, indent=2))

    assert_valid(PARSERS[name](text, "fuzz.json", observed_at=OBSERVED))


@pytest.mark.parametrize("name", PARSERS)
@FUZZ
@given(text=damaged(SAMPLE_FILES, st.sampled_from(SAMPLE_LINES)), ending=st.sampled_from(
    ["", "\n", "\r\n"]))
def test_it_reads_a_file_as_lines_as_it_reads_its_text(name: str, text: str, ending: str) -> None:
    whole = PARSERS[name](text, "fuzz.txt", observed_at=OBSERVED)
    lines = PARSERS[name]([line + ending for line in text.split("\n")], "fuzz.txt",
                          observed_at=OBSERVED)

    assert_valid(lines)
    assert lines.records == whole.records


@FUZZ
@given(text=st.text() | mutated_lines() | damaged(SAMPLE_FILES, st.sampled_from(SAMPLE_LINES)))
def test_it_either_parses_any_text_or_says_the_format_is_unknown(text: str) -> None:
    try:
        result = parse_any(text, "fuzz.txt", observed_at=OBSERVED)
    except UnknownFormatError as exc:
        assert str(exc).startswith("fuzz.txt:1:1: ")
    else:
        assert_valid(result)


@FUZZ
@given(src=st.ip_addresses(), dst=st.ip_addresses(), sport=st.integers(0, 65535),
       dport=st.integers(0, 65535), proto=st.sampled_from([1, 6, 17, 58, 132]),
       start=st.integers(0, 2**32), duration=st.integers(0, 600),
       packets=st.integers(0, 2**40), nbytes=st.integers(0, 2**50),
       action=st.sampled_from(["ACCEPT", "REJECT", "-"]))
def test_it_reads_aws_records_the_same_on_the_fast_and_the_careful_path(
        src: Any, dst: Any, sport: int, dport: int, proto: int, start: int, duration: int,
        packets: int, nbytes: int, action: str) -> None:
    line = (f"2 123456789010 eni-1 {src.exploded} {dst} {sport} {dport} {proto} {packets} "
            f"{nbytes} {start} {start + duration} {action} OK")
    values.ADDRESSES.clear()  # unseen addresses send the first parse down the careful path

    careful = aws_vpc.parse(line, "a.log")
    fast = aws_vpc.parse(line, "a.log")

    icmp = proto in (1, 58)
    expected = FlowRecord(
        values.utc(start), values.utc(start + duration), str(src), str(dst), proto,
        sport=None if icmp else sport, dport=None if icmp else dport, packets=packets,
        bytes=nbytes, verdict={"ACCEPT": "ACCEPT", "REJECT": "DROP"}.get(action),
        observer="eni-1", source_format="aws_vpc")
    assert careful.records == fast.records == [expected]
