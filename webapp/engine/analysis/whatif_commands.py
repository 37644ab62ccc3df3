"""`segscope whatif` and `segscope fix` on an offline bundle.

Their JSON is a contract other tools read: keep the keys as docs/analysis.md states them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from webapp.engine.analysis.changes import ChangeError


def add_whatif_parsers(commands: Any) -> None:
    """Register `whatif` and `fix` on the `segscope` argument parser."""
    from webapp.engine.analysis.commands import _bundle_arguments

    whatif = commands.add_parser(
        "whatif", help="what a proposed rule, set or intent change would open, close and fix",
        description="Apply a change file to copies of the newest dumps of a bundle's hosts and "
                    "compare: pairs newly allowed and blocked, drift fixed and created, "
                    "blocked flow records the change would have allowed.")
    _bundle_arguments(whatif, at=False)
    whatif.add_argument("--change", type=Path, required=True, metavar="FILE",
                        help="lines 'HOST: iptables|ip6tables|nft|ipset ...' or "
                             "'intent: FILE.yaml'")
    whatif.add_argument("--days", type=float, default=7, metavar="N",
                        help="blocked flow records of the last N days (default 7)")
    whatif.set_defaults(handler=_whatif)

    fix = commands.add_parser(
        "fix", help="the smallest changes that would allow a blocked flow, ranked by exposure",
        description="The rules that block a flow between two workloads, and candidate "
                    "changes (allow rule, set member, intent line), each checked against the "
                    "fleet, ranked by the pairs and ports they open beyond the flow.")
    _bundle_arguments(fix, at=False)
    fix.add_argument("--src", required=True, metavar="WORKLOAD")
    fix.add_argument("--dst", required=True, metavar="WORKLOAD")
    fix.add_argument("--proto", default="tcp", choices=("tcp", "udp", "icmp"))
    fix.add_argument("--dport", type=int, metavar="N")
    fix.set_defaults(handler=_fix)


def read_change_file(path: Path) -> tuple[str, dict[str, str]]:
    """A change file's text and the intent files it names (relative to it)."""
    text = path.read_text(encoding="utf-8")
    files: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        host, sep, name = line.strip().partition(":")
        if sep and host.strip() == "intent" and name.strip():
            target = path.parent / name.strip()
            try:
                files[name.strip()] = target.read_text(encoding="utf-8")
            except OSError as exc:
                raise ChangeError(str(path), number,
                                  f"cannot read {name.strip()}: {exc.strerror}") from None
    return text, files


def _whatif(args: argparse.Namespace) -> int:
    from webapp.engine.analysis.changes import parse_changes
    from webapp.engine.analysis.commands import _analysis, _print_json
    from webapp.engine.analysis.whatif import what_if

    text, files = read_change_file(args.change)
    changes = parse_changes(text, str(args.change), files)
    result = what_if(_analysis(args), changes, args.days)
    if args.json:
        _print_json(result)
        return 0
    for title, key in (("opened", "opened"), ("closed", "closed")):
        for edge in result[key]:
            print(f"{title}: {edge['src']} -> {edge['dst']}: {', '.join(edge['allowed'])}")
    for title, key in (("fixes", "drift_fixed"), ("creates", "drift_created")):
        for finding in result[key]:
            print(f"{title} {finding['kind']}: {finding['host']} "
                  f"{' -> '.join(finding['workloads'])} {','.join(finding['ports'])}")
    print(f"would have allowed {len(result['flows_allowed'])} blocked flow records")
    return 0


def _fix(args: argparse.Namespace) -> int:
    from webapp.engine.analysis.commands import _analysis, _print_json
    from webapp.engine.analysis.fix import propose_fix

    result = propose_fix(_analysis(args), args.src, args.dst, args.proto, args.dport)
    if args.json:
        _print_json(result)
        return 0
    if not result["blocked_by"]:
        print(f"{args.src} -> {args.dst} {args.proto}/{args.dport} is allowed")
        return 0
    for rule in result["blocked_by"]:
        print(f"blocked by {rule['host']} {rule['table']} {rule['chain']} "
              f"{rule.get('rule_number') or rule.get('handle') or 'policy'}: "
              f"{rule.get('text', '')}")
    for rank, candidate in enumerate(result["candidates"], start=1):
        print(f"{rank}. {candidate['kind']}, opens {candidate['exposure']} more:")
        for host, command in zip(candidate["on"], candidate["commands"], strict=True):
            print(f"   {host or 'intent'}: {command}")
    return 0
