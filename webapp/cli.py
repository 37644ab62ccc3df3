"""The `segscope` command: explain packets, report on dumps, run the agent and the lab."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from collectors.agent import add_agent_parser
from collectors.errors import ParseError
from collectors.lab.cli import add_lab_parser
from webapp.engine.analysis.commands import add_analysis_parsers
from webapp.engine.analysis.whatif_commands import add_whatif_parsers
from webapp.engine.audit.verify import add_audit_parser
from webapp.engine.explanation import Explanation
from webapp.engine.host import HostRules, load_host
from webapp.engine.matrix.commands import add_service_matrix_parser
from webapp.engine.packet import HOOKS, Packet
from webapp.engine.values import ValueParseError, parse_address

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.handler(args))
    except (ParseError, ValueParseError, ValueError, OSError) as exc:
        print(f"segscope: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segscope", description="Segscope: what a host's firewall really does, and why.")
    commands = parser.add_subparsers(metavar="COMMAND")

    explain = commands.add_parser(
        "explain", help="verdict, deciding rule and trace for packets against a host's dumps",
        description="Explain packets against a host's rule dumps. With --probes, reads JSON "
                    "Lines and writes one JSON object per probe, in input order. With --src/--dst,"
                    " explains one packet as text.")
    explain.add_argument("--iptables-save", type=Path, metavar="FILE",
                         help="output of iptables-save [-c] (IPv4; IPv6 detected from content)")
    explain.add_argument("--ip6tables-save", type=Path, metavar="FILE",
                         help="output of ip6tables-save [-c]")
    explain.add_argument("--ipset-save", type=Path, metavar="FILE", help="output of ipset save")
    explain.add_argument("--nft-json", type=Path, metavar="FILE",
                         help="output of nft -j list ruleset")
    explain.add_argument("--hook", default="INPUT", type=str.upper, choices=HOOKS,
                         help="path through the host (default INPUT)")
    explain.add_argument("--local-address", action="append", default=[], metavar="ADDR",
                         help="an address of the host (for addrtype LOCAL); repeatable")
    explain.add_argument("--probes", type=Path, metavar="FILE",
                         help="JSON Lines of probes ('-' for standard input)")
    explain.add_argument("--json", action="store_true",
                         help="with --src/--dst: print JSON instead of text")
    one = explain.add_argument_group("one packet")
    one.add_argument("--src")
    one.add_argument("--dst")
    one.add_argument("--proto", default="tcp")
    one.add_argument("--sport", type=int)
    one.add_argument("--dport", type=int)
    one.add_argument("--icmp-type", type=int, help="default: echo request (8, or 128 for IPv6)")
    one.add_argument("--icmp-code", type=int, default=0)
    one.add_argument("--in-iface")
    one.add_argument("--out-iface")
    one.add_argument("--ct-state", default="NEW")
    one.add_argument("--mark", type=lambda v: int(v, 0), default=0)
    one.add_argument("--length", type=int,
                     help="IP total length in bytes (IPv6: the 40-byte header included); "
                          "without it, length matches depend on it")
    explain.set_defaults(handler=_explain)

    report = commands.add_parser(
        "report", help="rules, chains and unmodelled modules of dump files",
        description="Parse dump files (iptables-save, ipset save, nft -j) and report per file.")
    report.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="files or directories (searched recursively)")
    report.add_argument("--json", action="store_true", help="one JSON object per file")
    report.set_defaults(handler=_report)
    add_analysis_parsers(commands)
    add_audit_parser(commands)
    add_whatif_parsers(commands)
    add_service_matrix_parser(commands)
    add_agent_parser(commands)
    add_lab_parser(commands)
    return parser


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    return path.read_text(encoding="utf-8", errors="replace")


def _load(args: argparse.Namespace) -> HostRules:
    if not (args.iptables_save or args.ip6tables_save or args.nft_json):
        raise ValueError("give at least one of --iptables-save, --ip6tables-save, --nft-json")
    local = frozenset(parse_address(a)[1] for a in args.local_address) or None
    return load_host(
        iptables=_read(args.iptables_save), ip6tables=_read(args.ip6tables_save),
        ipset=_read(args.ipset_save), nft_json=_read(args.nft_json),
        names=tuple(str(p) if p else "-" for p in (args.iptables_save, args.ip6tables_save,
                                                   args.ipset_save, args.nft_json)),
        local_addresses=local)


def _explain(args: argparse.Namespace) -> int:
    host = _load(args)
    if args.probes is not None:
        stream = sys.stdin if str(args.probes) == "-" else args.probes.open(encoding="utf-8")
        with stream:
            return _explain_probes(host, args.hook, stream, str(args.probes), sys.stdout)
    if not (args.src and args.dst):
        raise ValueError("give --probes FILE, or --src and --dst for one packet")
    packet = Packet(src=args.src, dst=args.dst, proto=args.proto, sport=args.sport,
                    dport=args.dport, icmp_type=args.icmp_type, icmp_code=args.icmp_code,
                    in_iface=args.in_iface, out_iface=args.out_iface, ct_state=args.ct_state,
                    mark=args.mark, length=args.length)
    explanation = host.explain(packet, args.hook)
    if args.json:
        print(json.dumps(explanation.to_dict(), indent=2))
    else:
        print(render_text(packet, args.hook, explanation))
    return 0


def _probes(stream: TextIO, filename: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, f"{filename}:{lineno}:{exc.colno}: not JSON: {exc.msg}"
            continue
        if not isinstance(data, dict):
            yield lineno, f"{filename}:{lineno}:1: a probe is a JSON object"
            continue
        yield lineno, data


def _explain_probes(host: HostRules, default_hook: str, stream: TextIO, filename: str,
                    out: TextIO) -> int:
    failures = 0
    for lineno, data in _probes(stream, filename):
        if isinstance(data, str):
            failures += 1
            out.write(json.dumps({"id": None, "verdict": "ERROR", "error": data}) + "\n")
            continue
        probe = dict(data)
        hook = str(probe.pop("hook", default_hook)).upper()
        try:
            packet = Packet.from_dict(probe)
            result: dict[str, Any] = {"id": packet.id, **host.explain(packet, hook).to_dict()}
        except (ValueParseError, ValueError, KeyError) as exc:
            failures += 1
            result = {"id": data.get("id"), "verdict": "ERROR",
                      "error": f"{filename}:{lineno}: {exc}"}
        out.write(json.dumps(result) + "\n")
    out.flush()
    return 1 if failures else 0


def render_text(packet: Packet, hook: str, explanation: Explanation) -> str:
    """The explanation as a person on call reads it."""
    ports = f":{packet.dport}" if packet.dport is not None else ""
    lines = [f"{packet.proto} {packet.src} -> {packet.dst}{ports} ({hook}, {packet.ct_state})",
             f"verdict: {explanation.verdict}"]
    if explanation.decided_by is not None:
        lines.append(f"decided by: {explanation.decided_by}")
    if explanation.nat:
        lines.append(f"nat: {explanation.nat}")
    if explanation.trace:
        lines.append("trace:")
        lines.extend(f"  {step}" for step in explanation.trace)
    for outcome in explanation.possible:
        lines.append(f"possible: {outcome.verdict} by {outcome.decided_by}")
        lines.extend(f"    assuming {a}" for a in outcome.assuming)
        if outcome.nat:
            lines.append(f"    nat: {outcome.nat}")
    lines.extend(f"note: {n}" for n in explanation.notes)
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    from webapp.engine.report import report_paths

    failures = 0
    for entry in report_paths(args.paths):
        failures += entry.get("error") is not None
        print(json.dumps(entry) if args.json else _report_line(entry))
    return 1 if failures else 0


def _report_line(entry: dict[str, Any]) -> str:
    if entry.get("error"):
        return f"{entry['file']}: {entry['kind']}: ERROR {entry['error']}"
    parts = [f"{k}={v}" for k, v in entry.items()
             if k not in ("file", "kind", "warnings", "unmodelled") and v is not None]
    if entry.get("unmodelled"):
        parts.append("unmodelled=" + ",".join(f"{k}:{v}" for k, v in entry["unmodelled"].items()))
    if entry.get("warnings"):
        parts.append(f"warnings={len(entry['warnings'])}")
    return f"{entry['file']}: {entry['kind']}: " + " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
