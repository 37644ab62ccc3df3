"""Links of a flow record: the explain query of its packet and the workloads it joins."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from webapp.flows.models import FlowRecord
from webapp.inventory.models import Workload

PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}


def with_explain_links(flows: Iterable[FlowRecord]) -> list[FlowRecord]:
    """Give each flow the query of its explain link (the observing host, the packet, and the
    interface towards the destination workload when the inventory knows it) and the running
    workloads its addresses belong to."""
    flows = list(flows)
    interfaces: dict[tuple[int, str], str] = {}
    owners: dict[str, str] = {}
    for workload in Workload.objects.filter(stopped_at__isnull=True).only(
            "name", "host_id", "addresses", "interface"):
        for address in workload.addresses:
            interfaces[(workload.host_id, address)] = workload.interface
            owners[address] = workload.name
    for flow in flows:
        flow.src_workload = owners.get(flow.src)  # type: ignore[attr-defined]
        flow.dst_workload = owners.get(flow.dst)  # type: ignore[attr-defined]
        proto = PROTO_NAMES.get(flow.proto or 6, "tcp")
        query = {"host": flow.host.name, "hook": "FORWARD", "src": flow.src, "dst": flow.dst,
                 "proto": proto, "ct_state": "NEW"}
        if proto in ("tcp", "udp"):
            query.update(sport="40000", dport=str(flow.dport or 0))
        out_iface = interfaces.get((flow.host_id, flow.dst))
        if out_iface:
            query["out_iface"] = out_iface
        flow.proto_name = proto  # type: ignore[attr-defined]
        flow.explain_query = urlencode(query)  # type: ignore[attr-defined]
    return flows
