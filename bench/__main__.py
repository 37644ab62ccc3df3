"""Run every benchmark and print figures; `python -m bench [--quick]`."""

from __future__ import annotations

import argparse
import json
import sys

from bench import (
    dashboard_bench,
    explain_bench,
    graph_bench,
    ingest_bench,
    nft_bench,
    parse_bench,
    partition_bench,
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    results = {"parse": parse_bench.run(quick=args.quick),
               "explain": explain_bench.run(quick=args.quick),
               "nft": nft_bench.run(quick=args.quick),
               "ingest": ingest_bench.run(quick=args.quick),
               "graph": graph_bench.run(quick=args.quick),
               "dashboard": dashboard_bench.run(quick=args.quick),
               "partition": partition_bench.run_isolated(quick=args.quick)}
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
