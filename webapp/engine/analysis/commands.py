"""`segscope graph`, `segscope drift` and `segscope convergence` on an offline bundle.

Their JSON is a contract other tools read: keep the keys as docs/analysis.md states them."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.bundle import BundleError


def add_analysis_parsers(commands: Any) -> None:
    """Register the three commands on the `segscope` argument parser."""
    graph = commands.add_parser(
        "graph", help="effective graph of a bundle: who can reach whom, on which ports",
        description="Evaluate every workload pair of an offline bundle through every hook it "
                    "crosses and print the pairs allowed something, with the deciding rules.")
    _bundle_arguments(graph)
    graph.add_argument("--level", choices=("workload", "segment"), default="workload",
                       help="edges between workloads (default) or between segments")
    graph.set_defaults(handler=_graph)

    drift = commands.add_parser(
        "drift", help="where a bundle's fleet differs from its intent",
        description="Findings: missing, excess, stale, shadowed, unused, foreign.")
    _bundle_arguments(drift)
    drift.add_argument("--kind", action="append", default=[],
                       help="only findings of this kind (repeatable)")
    drift.set_defaults(handler=_drift)

    convergence = commands.add_parser(
        "convergence", help="per generation, when each host reached its desired state",
        description="Generations (intent versions and workload changes) of a bundle, hosts "
                    "converged with their times, percentiles and stragglers.")
    _bundle_arguments(convergence, at=False)
    convergence.set_defaults(handler=_convergence)

    cost = commands.add_parser(
        "cost", help="cost of segmentation: rules, set members, flat-ACL equivalent, churn",
        description="Per host over time: rules, set members, the rules the same policy needs "
                    "without sets, rules traversed per verdict; the fleet's activation rate.")
    _bundle_arguments(cost)
    cost.set_defaults(handler=_cost)


def _bundle_arguments(parser: argparse.ArgumentParser, at: bool = True) -> None:
    parser.add_argument("bundle", type=Path, metavar="DIR",
                        help="offline bundle (inventory, intent, hosts/<host>/<time>/...)")
    parser.add_argument("--json", action="store_true", help="print JSON (the stable form)")
    if at:
        parser.add_argument("--at", type=parse_time, metavar="TIME",
                            help="the fleet as it was at this UTC time (default: newest)")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _analysis(args: argparse.Namespace) -> Any:
    from webapp.engine.analysis.offline import BundleAnalysis

    try:
        return BundleAnalysis(args.bundle, getattr(args, "at", None))
    except BundleError as exc:
        raise ValueError(f"{args.bundle}: {exc}") from None


def _graph(args: argparse.Namespace) -> int:
    result = _analysis(args).graph_json(args.level)
    if args.json:
        _print_json(result)
        return 0
    for edge in result["edges"]:
        extra = f"  ({edge['pairs']} pairs, {edge['status']})" if "pairs" in edge else ""
        print(f"{edge['src']} -> {edge['dst']}: {', '.join(edge['allowed'])}{extra}")
    return 0


def _drift(args: argparse.Namespace) -> int:
    result = _analysis(args).drift_json()
    if args.kind:
        result["findings"] = [f for f in result["findings"] if f["kind"] in args.kind]
    if args.json:
        _print_json(result)
        return 0
    for finding in result["findings"]:
        where = finding["rule"] or ({"set": finding["set"]} if finding["set"] else {})
        what = " ".join(f"{k}={v}" for k, v in where.items())
        pair = " -> ".join(finding["workloads"])
        ports = ",".join(finding["ports"])
        print(f"{finding['kind']:8} {finding['host']} {what} {finding['address'] or ''} "
              f"{pair} {ports} since {finding['since']}".replace("  ", " "))
    return 0


def _convergence(args: argparse.Namespace) -> int:
    result = _analysis(args).convergence_json()
    if args.json:
        _print_json(result)
        return 0
    for generation in result["generations"]:
        print(f"generation {generation['generation']} ({generation['cause']}), opened "
              f"{generation['opened_at']}: {generation['converged']}/{generation['listed']} "
              f"hosts converged, p50 {generation['p50']} s, p95 {generation['p95']} s, "
              f"max {generation['max']} s")
        for host in generation["hosts"]:
            print(f"  {host['host']}: {host['converged_at'] or 'not converged'}")
    return 0


def _cost(args: argparse.Namespace) -> int:
    result = _analysis(args).cost_json()
    if args.json:
        _print_json(result)
        return 0
    for entry in result["hosts"]:
        print(f"{entry['host']} {entry['at']}: {entry['rules']} rules, {entry['set_members']} "
              f"set members, {entry['flat_rules']} without sets, traversed avg "
              f"{entry['traversed_avg']} max {entry['traversed_max']}")
    rate = result["activation"]
    print(f"activation: {rate['per_second']} changes/s (needed {rate['needed_per_second']}/s)")
    return 0


def _print_json(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
