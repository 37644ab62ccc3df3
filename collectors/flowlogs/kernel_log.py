"""Kernel lines of the iptables/ip6tables LOG target, as syslog, journald or dmesg print them;
the log prefix is the rule reference."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from collectors.flowlogs.logprefix import direction_from_interfaces, verdict_from_prefix
from collectors.flowlogs.parsing import ParseOptions, Report, Row, Source, as_lines, run
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import (
    ICMP_PROTOCOLS,
    address,
    count,
    epoch_from_iso,
    port,
    protocol,
    small,
)

SOURCE_FORMAT = "kernel_log"
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# "Mar 15 20:55:15 host kernel:" or "2015-03-07T05:09:30.045015+02:00 host kernel:"; searched,
# not matched, so that "file:" prefixes of grep output do not hide the line.
_SYSLOG = re.compile(
    r"(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)?"
    r"|(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?))"
    r" +(?P<host>\S+) +kernel: ?")
_UPTIME = re.compile(r" *\[ *\d+\.\d+\] ?")
_INTERFACES = re.compile(r"IN=\S* OUT=\S*")
# Syslog times have no year: a time more than this far after observed_at is from last year.
_CLOCK_SKEW = timedelta(days=1)


def parse(source: Source, filename: str, *, observed_at: datetime | None = None) -> ParseResult:
    """Flow records of LOG target lines; observed_at gives syslog times their year."""
    # observed_at is also the time of dmesg lines, which carry only the uptime.
    return run(iter_rows, source, filename, ParseOptions.of(observed_at), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    clock = _SyslogClock(options.observed_at)
    for lineno, line in enumerate(as_lines(source), 1):
        line = line.rstrip()
        if not line:
            continue
        try:
            row = _row(line, clock, options)
        except (ValueError, OverflowError) as exc:
            report.error(lineno, str(exc))
            continue
        if row is None:
            report.skip(lineno, "not a netfilter LOG line")
            continue
        yield row


def _row(line: str, clock: _SyslogClock, options: ParseOptions) -> Row | None:
    interfaces = _INTERFACES.search(line)
    if interfaces is None:
        return None
    header = _SYSLOG.search(line, 0, interfaces.start())
    if header:
        body = header.end()
    else:
        kernel = line.find("kernel: ", 0, interfaces.start())
        body = kernel + 8 if kernel >= 0 else 0
    uptime = _UPTIME.match(line, body)
    if uptime:
        body = uptime.end()
    prefix = line[body:interfaces.start()].strip() or None
    fields: dict[str, str] = {}
    for token in line[interfaces.start():].split():
        key, sep, value = token.partition("=")
        if sep and key not in fields:  # the first LEN/ID is the IP header's
            fields[key] = value
    if "SRC" not in fields or "DST" not in fields or "PROTO" not in fields:
        raise ValueError("LOG line without SRC=, DST= or PROTO=")
    proto = protocol(fields["PROTO"])
    sport = dport = icmp_type = icmp_code = None
    if proto in ICMP_PROTOCOLS:
        icmp_type = small(fields["TYPE"]) if "TYPE" in fields else None
        icmp_code = small(fields["CODE"]) if "CODE" in fields else None
    elif "SPT" in fields:
        sport = port(fields["SPT"])
        dport = port(fields["DPT"]) if "DPT" in fields else None
    if header is None:
        if options.observed_at is None:
            raise ValueError("line has no wall-clock time (dmesg); pass observed_at")
        at = options.observed_at
    elif header["iso"]:
        at = epoch_from_iso(header["iso"].replace(" ", "T"))
    else:
        at = clock.epoch(header["mon"], header["day"], header["hms"])
    return (at, at, address(fields["SRC"]), address(fields["DST"]), proto, dport, icmp_type,
            icmp_code, verdict_from_prefix(prefix), prefix, header["host"] if header else None,
            sport, 1, count(fields.get("LEN", "0")),
            direction_from_interfaces(fields.get("IN"), fields.get("OUT")))


class _SyslogClock:
    """Epoch seconds of year-less syslog times (read as UTC), the year taken from observed_at."""

    __slots__ = ("observed_at", "_seen")

    def __init__(self, observed_at: float | None) -> None:
        self.observed_at = observed_at
        self._seen: dict[tuple[str, str, str], float] = {}

    def epoch(self, month: str, day: str, hms: str) -> float:
        key = (month, day, hms)
        seconds = self._seen.get(key)
        if seconds is None:
            seconds = self._seen[key] = self._resolve(month, day, hms)
        return seconds

    def _resolve(self, month: str, day: str, hms: str) -> float:
        if self.observed_at is None:
            raise ValueError("syslog time has no year; pass observed_at")
        now = datetime.fromtimestamp(self.observed_at, UTC)
        hour, minute, second = (int(x) for x in hms.split(":"))
        moment = datetime(now.year, _MONTHS[month], int(day), hour, minute, second, tzinfo=UTC)
        if moment > now + _CLOCK_SKEW:
            moment = moment.replace(year=now.year - 1)
        return moment.timestamp()
