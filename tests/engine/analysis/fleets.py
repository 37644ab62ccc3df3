"""Hand-built fleets for the analysis tests: workloads placed on hosts, rules rendered by the
control plane (ipsets or one rule per peer), optionally edited by hand afterwards."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from collectors.controlplane import WorkloadSpec, render_host
from collectors.intent import Intent, parse_intent
from webapp.engine.analysis.fleet import Fleet, HostState, Workload, load_host_state

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def intent(allows: Sequence[tuple[str, str, Sequence[str]]],
           segments: Mapping[str, Mapping[str, str]] | None = None,
           version: str = "v1") -> Intent:
    names = {a for a, _, _ in allows} | {b for _, b, _ in allows}
    segments = segments or {n: {"app": n} for n in sorted(names) if not n.startswith("cidr:")}
    return parse_intent({"segments": dict(segments),
                         "allow": [{"from": a, "to": b, "ports": list(p)} for a, b, p in allows]},
                        "<test>", version)


def workload(name: str, host: str, address: str, app: str, *, attachment: str = "bridged",
             started_at: datetime | None = T0, stopped_at: datetime | None = None,
             **labels: str) -> Workload:
    interface = f"cali{zlib.crc32(name.encode()):08x}" if attachment == "bridged" else ""
    return Workload(name, host, (address,), attachment, interface, {"app": app, **labels},
                    started_at, stopped_at)


def spec(w: Workload) -> WorkloadSpec:
    return WorkloadSpec(w.name, w.host, w.addresses, w.interface or None, w.attachment,
                        dict(w.labels))


def rendered(host: str, policy: Intent, workloads: Sequence[Workload],
             use_sets: bool = True) -> dict[str, str]:
    rules = render_host(host, policy, [spec(w) for w in workloads], use_sets=use_sets)
    return {"iptables-save": rules.iptables, "ipset-save": rules.ipset}


def build(policy: Intent, workloads: Sequence[Workload], *, use_sets: bool = True,
          edit: Callable[[str, dict[str, str]], dict[str, str]] | None = None,
          hosts: Sequence[str] | None = None, at: datetime = T0) -> Fleet:
    """Every host's rules as the control plane renders them, after `edit` (host, dumps)."""
    names = sorted(set(hosts or ()) | {w.host for w in workloads})
    states: dict[str, HostState] = {}
    for host in names:
        dumps = rendered(host, policy, workloads, use_sets)
        if edit is not None:
            dumps = edit(host, dumps)
        local = [w for w in workloads if w.host == host]
        states[host] = load_host_state(host, dumps, at, (), local)
    return Fleet(states, tuple(workloads), None)


def add_rule(chain_line: str, before: str = "COMMIT") -> Callable[[str, str], str]:
    """An editor inserting an iptables-save line before the first line starting with `before`."""
    def apply(host: str, text: str) -> str:
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.startswith(before))
        return "\n".join([*lines[:index], chain_line, *lines[index:]]) + "\n"
    return apply
