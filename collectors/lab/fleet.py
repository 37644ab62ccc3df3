"""A fleet of lab hosts in network namespaces, wired like a small Calico-style cluster.

    workload ns ssl-<tag>-w-<workload>        host ns ssl-<tag>-h-<host>       fabric ns ssl-<tag>-f
    eth0 10.<h>.0.<n>/32  ──────────────  cali<hex8>
    default via 169.254.1.1               eth0 10.255.0.<h>/24  ──────────  h<h> in bridge br0
                                          10.<h>.0.<n>/32 dev cali<hex8>
                                          10.<j>.0.0/24 via 10.255.0.<j> (every other host j)

Every link, address, route and sysctl lives inside the lab's namespaces: links are created
from inside a lab namespace, and the root namespace's interfaces and routes are never touched.
Neighbour entries are static, so that no packet waits for ARP. Hosts forward (ip_forward=1) with
rp_filter off. The plan is pure; `build_fleet` and `destroy_fleet` run `ip`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collectors.controlplane import WorkloadSpec
from collectors.lab.netns import LabError, run, sysctl

PREFIX = "ssl"
FABRIC_NETWORK = "10.255.0"
GATEWAY = "169.254.1.1"  # the workloads' next hop, answered by the host's cali end (static)
HOST_SIDE_MAC = "ee:ee:ee:ee:ee:ee"
MAX_HOSTS = 200
MAX_WORKLOADS = 250
DEMO_LABELS: tuple[Mapping[str, str], ...] = (
    {"app": "payments", "env": "prod"}, {"app": "ledger", "env": "prod"},
    {"app": "web", "env": "prod"}, {"app": "cache", "env": "prod"})
_TAG = re.compile(r"^[0-9a-z]{1,12}$")


@dataclass(frozen=True, slots=True)
class LabHost:
    """A host namespace: its index h (workloads in 10.h.0.0/24) and fabric address."""

    name: str
    index: int
    netns: str

    @property
    def address(self) -> str:
        return f"{FABRIC_NETWORK}.{self.index}"

    @property
    def mac(self) -> str:
        return f"02:00:0a:ff:00:{self.index:02x}"

    @property
    def workload_network(self) -> str:
        return f"10.{self.index}.0.0/24"


@dataclass(frozen=True, slots=True)
class LabWorkload:
    """A workload namespace attached to its host by a veth pair (host end `interface`)."""

    name: str
    host: str
    netns: str
    address: str
    interface: str
    labels: Mapping[str, str]
    started_at: str

    @property
    def mac(self) -> str:
        octets = [int(x) for x in self.address.split(".")]
        return "02:00:" + ":".join(f"{o:02x}" for o in octets)

    def spec(self) -> WorkloadSpec:
        """What the control plane needs to know of it."""
        return WorkloadSpec(self.name, self.host, (self.address,), self.interface, "bridged",
                            dict(self.labels))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "netns": self.netns,
                "address": self.address, "interface": self.interface,
                "labels": dict(self.labels), "started_at": self.started_at}


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """Every namespace, link and address of one lab, named by its tag."""

    tag: str
    hosts: tuple[LabHost, ...]
    workloads: tuple[LabWorkload, ...]
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def fabric(self) -> str:
        return f"{PREFIX}-{self.tag}-f"

    @property
    def namespaces(self) -> list[str]:
        return [self.fabric, *(h.netns for h in self.hosts), *(w.netns for w in self.workloads)]

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no host {name!r} in this lab; hosts: "
                       f"{', '.join(h.name for h in self.hosts)}")

    def workload(self, name: str) -> LabWorkload:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise LabError(f"no workload {name!r} in this lab")

    def workloads_on(self, host: str) -> list[LabWorkload]:
        return [w for w in self.workloads if w.host == host]

    def specs(self) -> list[WorkloadSpec]:
        return [w.spec() for w in self.workloads]

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag,
                "hosts": [{"name": h.name, "index": h.index, "netns": h.netns}
                          for h in self.hosts],
                "workloads": [w.to_dict() for w in self.workloads]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetPlan:
        return cls(str(data["tag"]),
                   tuple(LabHost(h["name"], int(h["index"]), h["netns"]) for h in data["hosts"]),
                   tuple(LabWorkload(w["name"], w["host"], w["netns"], w["address"],
                                     w["interface"], dict(w["labels"]), w["started_at"])
                         for w in data["workloads"]))


def host_name(index: int) -> str:
    return f"node-{index:02d}"


def interface_name(host: str, workload: str) -> str:
    """The host end of a workload's veth: `cali` and 8 hex digits, as Calico names them."""
    return "cali" + hashlib.sha256(f"{host}/{workload}".encode()).hexdigest()[:8]


def plan_fleet(tag: str, hosts: int, workloads_per_host: int, started_at: str,
               labels: Sequence[Mapping[str, str]] = DEMO_LABELS) -> FleetPlan:
    """N hosts with M workloads each; workload k of host h gets labels[(h + k) % len] and is
    named after its `app` label (`payments-7f9c`), the suffix fixed by host and k."""
    if not _TAG.match(tag):
        raise LabError(f"lab tag must be 1-12 lowercase letters or digits, not {tag!r}")
    if not 1 <= hosts <= MAX_HOSTS:
        raise LabError(f"--hosts must be between 1 and {MAX_HOSTS}")
    if not 1 <= workloads_per_host <= MAX_WORKLOADS:
        raise LabError(f"--workloads must be between 1 and {MAX_WORKLOADS}")
    if not labels:
        raise LabError("the label mix is empty")
    lab_hosts = tuple(LabHost(host_name(h), h, f"{PREFIX}-{tag}-h-{host_name(h)}")
                      for h in range(1, hosts + 1))
    workloads = []
    seen: set[str] = set()
    for host in lab_hosts:
        for k in range(1, workloads_per_host + 1):
            mix = dict(labels[(host.index + k - 2) % len(labels)])
            base = re.sub(r"[^a-z0-9-]", "-", mix.get("app", "workload").lower())[:40] or "w"
            digest = hashlib.sha256(f"{host.name}/{k}".encode()).hexdigest()
            name = f"{base}-{digest[:4]}"
            if name in seen:
                name = f"{base}-{digest[:8]}"
            seen.add(name)
            workloads.append(LabWorkload(
                name, host.name, f"{PREFIX}-{tag}-w-{name}", f"10.{host.index}.0.{k}",
                interface_name(host.name, name), mix, started_at))
    return FleetPlan(tag, lab_hosts, tuple(workloads))


def inventory_document(plan: FleetPlan) -> dict[str, Any]:
    """The lab as a Segscope inventory (DESIGN.md section 4)."""
    return {
        "hosts": [{"name": h.name, "addresses": [h.address], "labels": {"zone": "lab"}}
                  for h in plan.hosts],
        "workloads": [{"name": w.name, "host": w.host, "addresses": [w.address],
                       "attachment": "bridged", "interface": w.interface,
                       "labels": dict(w.labels), "started_at": w.started_at}
                      for w in plan.workloads],
    }


def lab_namespaces(tag: str) -> list[str]:
    """The namespaces that exist now and belong to the lab `tag`."""
    prefix = f"{PREFIX}-{tag}-"
    names = [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.split()]
    return sorted(n for n in names if n.startswith(prefix))


def build_fleet(plan: FleetPlan) -> None:
    """Create the namespaces and wire them as the module docstring draws; on any failure,
    remove what was built and raise LabError."""
    existing = lab_namespaces(plan.tag)
    if existing:
        raise LabError(f"lab {plan.tag} already has namespaces ({', '.join(existing[:3])}…); "
                       "run `segscope lab down` first")
    try:
        _build(plan)
    except BaseException:
        destroy_fleet(plan.tag)
        raise


def _build(plan: FleetPlan) -> None:
    for netns in plan.namespaces:
        run(["ip", "netns", "add", netns])
        run(["ip", "-n", netns, "link", "set", "lo", "up"])
        # No IPv6: no router solicitations or DAD on the links, only the traffic we make.
        sysctl(netns, {"net.ipv6.conf.all.disable_ipv6": "1",
                        "net.ipv6.conf.default.disable_ipv6": "1"})
    fabric = plan.fabric
    run(["ip", "-n", fabric, "link", "add", "br0", "type", "bridge"])
    run(["ip", "-n", fabric, "link", "set", "br0", "up"])
    for host in plan.hosts:
        # Before any link exists, so that every interface starts with rp_filter off.
        sysctl(host.netns, {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0",
                             "net.ipv4.conf.default.rp_filter": "0"})
        run(["ip", "-n", fabric, "link", "add", f"h{host.index}", "type", "veth", "peer", "name",
             "eth0", "address", host.mac, "netns", host.netns])
        run(["ip", "-n", fabric, "link", "set", f"h{host.index}", "master", "br0", "up"])
        run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0"])
        run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
    for host in plan.hosts:
        for other in plan.hosts:
            if other is host:
                continue
            run(["ip", "-n", host.netns, "neigh", "replace", other.address, "lladdr", other.mac,
                 "dev", "eth0", "nud", "permanent"])
            run(["ip", "-n", host.netns, "route", "add", other.workload_network, "via",
                 other.address, "dev", "eth0"])
    for workload in plan.workloads:
        _attach(plan.host(workload.host), workload)


def _attach(host: LabHost, workload: LabWorkload) -> None:
    ns, iface = host.netns, workload.interface
    run(["ip", "-n", ns, "link", "add", iface, "address", HOST_SIDE_MAC, "type", "veth",
         "peer", "name", "eth0", "address", workload.mac, "netns", workload.netns])
    run(["ip", "-n", ns, "link", "set", iface, "up"])
    run(["ip", "-n", ns, "route", "add", f"{workload.address}/32", "dev", iface])
    run(["ip", "-n", ns, "neigh", "replace", workload.address, "lladdr", workload.mac, "dev",
         iface, "nud", "permanent"])
    wl = workload.netns
    run(["ip", "-n", wl, "addr", "add", f"{workload.address}/32", "dev", "eth0"])
    run(["ip", "-n", wl, "link", "set", "eth0", "up"])
    run(["ip", "-n", wl, "route", "add", GATEWAY, "dev", "eth0", "scope", "link"])
    run(["ip", "-n", wl, "route", "add", "default", "via", GATEWAY, "dev", "eth0"])
    run(["ip", "-n", wl, "neigh", "replace", GATEWAY, "lladdr", HOST_SIDE_MAC, "dev", "eth0",
         "nud", "permanent"])


def destroy_fleet(tag: str) -> list[str]:
    """Delete every namespace of the lab `tag` (links and rules go with them); return them."""
    removed = []
    for netns in lab_namespaces(tag):
        run(["ip", "netns", "del", netns], check=False)
        removed.append(netns)
    left = lab_namespaces(tag)
    if left:
        raise LabError(f"could not delete namespaces: {', '.join(left)}")
    return removed

