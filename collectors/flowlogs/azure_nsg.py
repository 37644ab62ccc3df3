"""Azure NSG flow logs, versions 1 and 2: PT1H.json blobs of flowTuples per rule and NIC, or
bare flowTuple lines."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from collectors.flowlogs import jsondoc
from collectors.flowlogs.jsondoc import get
from collectors.flowlogs.parsing import (
    ParseOptions,
    Report,
    Row,
    Source,
    as_lines,
    as_text,
    run,
    starts_json,
)
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import address, count, epoch, integer, port

SOURCE_FORMAT = "azure_nsg"
_PROTOCOLS = {"T": 6, "U": 17}
_DIRECTIONS = {"I": "ingress", "O": "egress"}
_DECISIONS = {"A": "ACCEPT", "D": "DROP"}  # an NSG deny discards silently


def parse(source: Source, filename: str, *, observed_at: datetime | None = None) -> ParseResult:
    """Flow records of an NSG flow log blob ({"records": [...]}) or of flowTuple lines."""
    return run(iter_rows, source, filename, ParseOptions.of(observed_at), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    is_json, source = starts_json(source)
    if is_json:
        return _blob_rows(as_text(source), report)
    return _tuple_lines(as_lines(source), report)


def _tuple_lines(lines: Iterable[str], report: Report) -> Iterator[Row]:
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line[0] == "#":
            continue
        try:
            yield tuple_row(line, None, None)
        except (ValueError, OverflowError) as exc:
            report.error(lineno, str(exc))


def _blob_rows(text: str, report: Report) -> Iterator[Row]:
    index = jsondoc.LineIndex(text)
    for line, doc in jsondoc.documents(text, report, index):
        records = get(doc, "records")
        if not isinstance(records, list):
            records = [doc]
        for record in records:
            rule_groups = get(get(record, "properties"), "flows")
            if not isinstance(rule_groups, list):
                report.error(line, "record without properties.flows: not an NSG flow log")
                continue
            for group in rule_groups:
                rule = get(group, "rule")
                rule = rule if isinstance(rule, str) and rule else None
                nics = get(group, "flows")
                for nic in nics if isinstance(nics, list) else []:
                    observer = _mac(get(nic, "mac"))
                    tuples = get(nic, "flowTuples")
                    for item in tuples if isinstance(tuples, list) else []:
                        if not isinstance(item, str):
                            report.error(line, f"flow tuple is not a string: {str(item)[:40]}")
                            continue
                        at = index.find_json_string(item, line)
                        try:
                            yield tuple_row(item, rule, observer)
                        except (ValueError, OverflowError) as exc:
                            report.error(at, str(exc))


def tuple_row(text: str, rule: str | None, observer: str | None) -> Row:
    """The row of one flowTuple: ts,src,dst,sport,dport,T|U,I|O,A|D[,B|C|E,pk,by,pk,by]."""
    f = text.split(",")
    if len(f) not in (8, 13):
        raise ValueError(f"flow tuple has {len(f)} fields, expected 8 (v1) or 13 (v2)")
    at = epoch(integer(f[0]))
    proto = _PROTOCOLS.get(f[5])
    if proto is None:
        raise ValueError(f"unknown protocol {f[5][:10]!r} (expected T or U)")
    direction = _DIRECTIONS.get(f[6])
    verdict = _DECISIONS.get(f[7])
    if direction is None or verdict is None:
        raise ValueError(f"bad direction/decision {f[6][:5]!r}/{f[7][:5]!r}")
    packets, nbytes = 1, 0
    if len(f) == 13:
        if f[8] not in ("B", "C", "E"):
            raise ValueError(f"unknown flow state {f[8][:5]!r} (expected B, C or E)")
        if any(f[9:13]):
            # v2 counters are deltas per direction since the flow's previous tuple
            packets = count(f[9]) + count(f[11])
            nbytes = count(f[10]) + count(f[12])
        elif verdict == "ACCEPT":
            # an accepted flow's B(egin) tuple has no counters: its C and E tuples carry them
            packets = 0
    return (at, at, address(f[1]), address(f[2]), proto, port(f[4]), None, None, verdict, rule,
            observer, port(f[3]), packets, nbytes, direction)


def _mac(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    digits = value.replace("-", "").replace(":", "").lower()
    if len(digits) == 12 and all(c in "0123456789abcdef" for c in digits):
        return ":".join(digits[i:i + 2] for i in range(0, 12, 2))
    return value
