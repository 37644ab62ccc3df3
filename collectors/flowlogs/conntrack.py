"""conntrack entries and events: `conntrack -L` (plain or `-o extended`), `conntrack -E`
(optionally `-o timestamp`), and /proc/net/ip_conntrack or nf_conntrack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from collectors.flowlogs.parsing import ParseOptions, Report, Row, Source, as_lines, run
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import ICMP_PROTOCOLS, address, count, epoch, port, small

SOURCE_FORMAT = "conntrack"
# [1234567890.123456] (-o timestamp)  [NEW] (-E)  ipv4 2 (-o extended / nf_conntrack)
_HEAD = re.compile(
    r"\s*(?:\[(?P<ts>\d{1,11}(?:\.\d+)?)\]\s*)?(?:\[(?P<event>[A-Z]+)\]\s*)?"
    r"(?:(?:ipv4|ipv6)\s+\d+\s+)?(?P<rest>.*)")
_TRAILER = re.compile(r"conntrack v\S+ \(conntrack-tools\): \d+ (?:flow|expectation) entr")


def parse(source: Source, filename: str, *, observed_at: datetime | None = None) -> ParseResult:
    """Flow records of conntrack output, stamped with observed_at unless `-o timestamp`."""
    return run(iter_rows, source, filename, ParseOptions.of(observed_at), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    for lineno, line in enumerate(as_lines(source), 1):
        line = line.strip()
        if not line or line[0] == "#":
            continue
        if _TRAILER.match(line):
            report.skip(lineno, "conntrack summary line")
            continue
        try:
            row = _row(line, options)
        except (ValueError, OverflowError) as exc:
            report.error(lineno, str(exc))
            continue
        if row is None:
            report.skip(lineno, "expectation (conntrack -E expect), not a flow")
            continue
        yield row


def _row(line: str, options: ParseOptions) -> Row | None:
    head = _HEAD.match(line)
    assert head is not None  # the pattern matches any line
    tokens = head["rest"].split()
    # l4proto-name l4proto-num [timeout] [STATE] key=value ... ; expectations: timeout proto=...
    i = 0
    while i < len(tokens) and "=" not in tokens[i]:
        i += 1
    words, pairs = tokens[:i], tokens[i:]
    if not pairs:
        raise ValueError("no src=/dst= fields: not a conntrack entry")
    if pairs[0].startswith("proto="):
        return None
    if len(words) < 2 or not words[1].isdigit():
        raise ValueError("expected '<l4proto> <number>' before the tuple")
    proto = small(words[1])
    orig: dict[str, str] = {}
    reply: dict[str, str] = {}
    side = orig
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not value:
            continue  # [ASSURED], [UNREPLIED], [OFFLOAD] and other flags
        if key == "src" and "src" in side:
            side = reply  # the second src= opens the reply tuple
        side.setdefault(key, value)
    if "src" not in orig or "dst" not in orig:
        raise ValueError("entry lacks src= or dst=")
    sport = dport = icmp_type = icmp_code = None
    if proto in ICMP_PROTOCOLS:
        icmp_type = small(orig["type"]) if "type" in orig else None
        icmp_code = small(orig["code"]) if "code" in orig else None
    else:
        sport = port(orig["sport"]) if "sport" in orig else None
        dport = port(orig["dport"]) if "dport" in orig else None
    packets, nbytes = 1, 0
    if "packets" in orig:  # accounting on: counters of both directions
        packets = count(orig["packets"]) + count(reply.get("packets", "0"))
        nbytes = count(orig.get("bytes", "0")) + count(reply.get("bytes", "0"))
    if head["ts"] is not None:
        at = epoch(float(head["ts"]))
    elif options.observed_at is not None:
        at = options.observed_at
    else:
        raise ValueError("conntrack output has no time; pass observed_at")
    # Only confirmed entries are listed or reported, and confirmation happens after the
    # packet has passed the last netfilter hook: the connection was accepted.
    return (at, at, address(orig["src"]), address(orig["dst"]), proto, dport, icmp_type,
            icmp_code, "ACCEPT", None, None, sport, packets, nbytes, None)
