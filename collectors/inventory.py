"""Inventories: Segscope YAML/JSON, `kubectl get pods -A -o json` and `docker inspect` output read
into the hosts and workloads they describe (and, from `kubectl get namespaces,pods -A -o json`, the
namespaces' labels that NetworkPolicy namespace selectors match).

Pure Python and PyYAML. `parse_inventory(text, filename)` detects the format; anything that
cannot be imported raises `InventoryError` naming the file and the field path
(`workloads[3].addresses[0]`).
An inventory is authoritative for the hosts in its `scope`: for them it lists every running
workload, so that an importer may stop the ones it no longer lists.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import yaml

ATTACHMENTS = ("bridged", "host")
FORMATS = ("segscope", "kubectl", "docker")
# The label kubelet gives every container of a pod; namespaced segments select on it.
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
MAX_NAME_LENGTH = 253
MAX_INTERFACE_LENGTH = 15  # IFNAMSIZ less the terminating NUL
PORT_PROTOCOLS = ("tcp", "udp", "sctp")

_HOST_KEYS = frozenset({"name", "addresses", "labels"})
_WORKLOAD_KEYS = frozenset(
    {"name", "host", "addresses", "attachment", "interface", "labels", "started_at",
     "stopped_at", "ports"})
# A tuple: a phase of any type (a list, from a broken document) is compared, never hashed.
_FINISHED_POD_PHASES = ("Succeeded", "Failed")


def _no_labels() -> Mapping[str, str]:
    return MappingProxyType({})


def _no_ports() -> Mapping[str, tuple[str, int]]:
    return MappingProxyType({})


def _no_namespaces() -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({})


class InventoryError(ValueError):
    """An inventory that cannot be imported; `path` names the field, like `workloads[2].host`."""

    def __init__(self, filename: str, path: str, reason: str) -> None:
        super().__init__(f"{filename}: {path}: {reason}" if path else f"{filename}: {reason}")
        self.filename, self.path, self.reason = filename, path, reason

    def to_dict(self) -> dict[str, str]:
        return {"file": self.filename, "path": self.path, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A host the inventory describes itself (not only names): addresses and labels."""

    name: str
    addresses: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=_no_labels)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "addresses": list(self.addresses), "labels": dict(self.labels)}


@dataclass(frozen=True, slots=True)
class WorkloadEntry:
    """A workload on a host; `started_at` None when the source does not say, `stopped_at` None
    while it runs."""

    name: str
    host: str
    addresses: tuple[str, ...] = ()
    attachment: str = "bridged"
    interface: str = ""
    labels: Mapping[str, str] = field(default_factory=_no_labels)
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    # Named ports, name -> (protocol, number), that NetworkPolicy rules may refer to.
    ports: Mapping[str, tuple[str, int]] = field(default_factory=_no_ports)

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "host": self.host, "addresses": list(self.addresses),
                "attachment": self.attachment, "interface": self.interface,
                "labels": dict(self.labels),
                "started_at": self.started_at.isoformat() if self.started_at else None}
        if self.stopped_at is not None:
            # Only for a stopped workload: documents of running ones stay as they were.
            data["stopped_at"] = self.stopped_at.isoformat()
        if self.ports:
            # Only when there are some, so that documents written before named ports stay as
            # they were; the form is the one the Segscope format reads back.
            data["ports"] = {name: f"{proto}/{number}"
                             for name, (proto, number) in self.ports.items()}
        return data


@dataclass(frozen=True, slots=True)
class Inventory:
    """Hosts and workloads of one file; `scope` are the hosts whose workloads it lists in full;
    `namespaces` the Kubernetes namespaces it lists, with their labels."""

    format: str
    hosts: tuple[HostEntry, ...]
    workloads: tuple[WorkloadEntry, ...]
    scope: frozenset[str]
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=_no_namespaces)

    def host_names(self) -> set[str]:
        """Every host the inventory names: described, running a workload or in scope."""
        return {h.name for h in self.hosts} | {w.host for w in self.workloads} | set(self.scope)


def parse_inventory(text: str | bytes, filename: str = "<input>", *, fmt: str = "auto",
                    host: str | None = None) -> Inventory:
    """Read an inventory of any supported format (detected unless `fmt` names one); `host` names
    the machine a `docker inspect` output comes from."""
    data = load_document(text, filename)
    if fmt == "auto":
        fmt = detect_format(data, filename)
    if fmt == "segscope":
        return parse_segscope(data, filename)
    if fmt == "kubectl":
        return parse_kubectl_pods(data, filename)
    if fmt == "docker":
        if host is None:
            raise InventoryError(filename, "", "docker inspect output does not say which host "
                                 "it comes from; give the host name")
        return parse_docker_inspect(data, filename, host)
    raise InventoryError(filename, "", f"unknown inventory format {fmt!r}; use one of {FORMATS}")


def load_document(text: str | bytes, filename: str) -> Any:
    """The JSON or YAML document of a file; syntax errors name the line and column."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InventoryError(filename, "", f"not UTF-8 text (byte {exc.start})") from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        # kubectl and docker print JSON; json is many times faster than YAML on large outputs.
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InventoryError(
                filename, "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InventoryError(filename, "", f"invalid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InventoryError(filename, "", f"invalid YAML: {exc}") from None


def detect_format(data: Any, filename: str) -> str:
    """"segscope", "kubectl" or "docker", told from the document's shape."""
    if isinstance(data, list):
        return "docker"
    if isinstance(data, dict):
        if data.get("kind") in ("List", "PodList", "Pod") or (
                "items" in data and "apiVersion" in data):
            return "kubectl"
        if "hosts" in data or "workloads" in data:
            return "segscope"
    raise InventoryError(filename, "", "not an inventory: expected Segscope `hosts`/`workloads`, "
                         "`kubectl get pods -o json` or `docker inspect` output")


def parse_segscope(data: Any, filename: str) -> Inventory:
    """The Segscope format: `hosts` and `workloads` lists (DESIGN.md section 4)."""
    reader = _Reader(filename)
    top = reader.mapping(data, "", allowed=frozenset({"hosts", "workloads"}))
    hosts: dict[str, HostEntry] = {}
    for i, item in enumerate(reader.sequence(top.get("hosts", []), "hosts")):
        path = f"hosts[{i}]"
        entry = reader.mapping(item, path, allowed=_HOST_KEYS)
        name = reader.name(entry.get("name"), f"{path}.name")
        if name in hosts:
            raise InventoryError(filename, f"{path}.name", f"host {name!r} is listed twice")
        hosts[name] = HostEntry(
            name, reader.addresses(entry.get("addresses", []), f"{path}.addresses"),
            reader.labels(entry.get("labels", {}), f"{path}.labels"))
    # One running workload a name and host; stopped ones are history, told apart by their stop.
    workloads: dict[tuple[str, str, datetime | None], WorkloadEntry] = {}
    for i, item in enumerate(reader.sequence(top.get("workloads", []), "workloads")):
        path = f"workloads[{i}]"
        entry = reader.mapping(item, path, allowed=_WORKLOAD_KEYS)
        name = reader.name(entry.get("name"), f"{path}.name")
        host = reader.name(entry.get("host"), f"{path}.host")
        attachment = entry.get("attachment", "bridged")
        if attachment not in ATTACHMENTS:
            raise InventoryError(filename, f"{path}.attachment",
                                 f"must be one of {ATTACHMENTS}, not {attachment!r}")
        interface = entry.get("interface", "")
        if not isinstance(interface, str) or len(interface) > MAX_INTERFACE_LENGTH:
            raise InventoryError(filename, f"{path}.interface",
                                 f"must be an interface name of at most {MAX_INTERFACE_LENGTH} "
                                 f"characters, not {interface!r}")
        started, stopped = entry.get("started_at"), entry.get("stopped_at")
        started_at = None if started is None else reader.moment(started, f"{path}.started_at")
        stopped_at = None if stopped is None else reader.moment(stopped, f"{path}.stopped_at")
        if started_at is not None and stopped_at is not None and stopped_at < started_at:
            raise InventoryError(filename, f"{path}.stopped_at", "before its started_at")
        workload = WorkloadEntry(
            name, host, reader.addresses(entry.get("addresses", []), f"{path}.addresses"),
            attachment, interface, reader.labels(entry.get("labels", {}), f"{path}.labels"),
            started_at, stopped_at,
            ports=reader.named_ports(entry.get("ports", {}), f"{path}.ports"))
        if (host, name, stopped_at) in workloads:
            raise InventoryError(filename, f"{path}.name",
                                 f"workload {name!r} is listed twice on host {host!r}")
        workloads[(host, name, stopped_at)] = workload
    # A file without a `workloads` key only describes hosts: it is authoritative for none.
    scope = frozenset(hosts) | {key[0] for key in workloads} if "workloads" in top else frozenset()
    return Inventory("segscope", tuple(hosts.values()), tuple(workloads.values()), scope)


def parse_kubectl_pods(data: Any, filename: str) -> Inventory:
    """`kubectl get pods -A -o json`: scheduled, unfinished pods become workloads named
    `namespace/name` on their node; the nodes seen are the scope. Namespace items of the same
    list (`kubectl get namespaces,pods -A -o json`) give the namespaces' labels."""
    reader = _Reader(filename)
    top = reader.mapping(data, "")
    items = [top] if top.get("kind") == "Pod" else reader.sequence(top.get("items"), "items")
    prefix = "" if top.get("kind") == "Pod" else "items"
    workloads: dict[tuple[str, str], WorkloadEntry] = {}
    nodes: set[str] = set()
    namespaces: dict[str, Mapping[str, str]] = {}
    for i, item in enumerate(items):
        path = f"{prefix}[{i}]" if prefix else ""
        pod = reader.mapping(item, path)
        kind = pod.get("kind", "Pod")
        if kind == "Namespace":
            meta = reader.mapping(pod.get("metadata"), _join(path, "metadata"))
            namespace = reader.name(meta.get("name"), _join(path, "metadata.name"))
            namespaces[namespace] = reader.labels(meta.get("labels") or {},
                                                  _join(path, "metadata.labels"))
            continue
        if kind != "Pod":
            raise InventoryError(filename, _join(path, "kind"),
                                 f"expected Pod or Namespace, got {kind!r}")
        meta = reader.mapping(pod.get("metadata"), _join(path, "metadata"))
        spec = reader.mapping(pod.get("spec", {}), _join(path, "spec"))
        status = reader.mapping(pod.get("status", {}), _join(path, "status"))
        node = spec.get("nodeName")
        if node is None:
            continue  # not scheduled yet: on no host
        node = reader.name(node, _join(path, "spec.nodeName"))
        nodes.add(node)
        if status.get("phase") in _FINISHED_POD_PHASES:
            continue
        pod_name = reader.name(meta.get("name"), _join(path, "metadata.name"))
        namespace = reader.name(meta.get("namespace", "default"), _join(path, "metadata.namespace"))
        labels = dict(reader.labels(meta.get("labels") or {}, _join(path, "metadata.labels")))
        labels.setdefault(NAMESPACE_LABEL, namespace)
        pod_ips = status.get("podIPs")
        if pod_ips:
            ips = [reader.mapping(p, _join(path, f"status.podIPs[{j}]")).get("ip")
                   for j, p in enumerate(reader.sequence(pod_ips, _join(path, "status.podIPs")))]
            addresses = reader.addresses(ips, _join(path, "status.podIPs"))
        else:
            single = status.get("podIP")
            addresses = reader.addresses([single] if single else [], _join(path, "status.podIP"))
        started = status.get("startTime")
        name = f"{namespace}/{pod_name}"
        workloads[(node, name)] = WorkloadEntry(
            name, node, addresses, "host" if spec.get("hostNetwork") else "bridged", "",
            MappingProxyType(labels),
            None if started is None else reader.moment(started, _join(path, "status.startTime")),
            ports=_container_ports(reader, spec, _join(path, "spec")))
    return Inventory("kubectl", (), tuple(workloads.values()), frozenset(nodes),
                     MappingProxyType(namespaces))


def _container_ports(reader: _Reader, spec: Mapping[str, Any],
                     path: str) -> Mapping[str, tuple[str, int]]:
    """The pod's named container ports; unnamed ones cannot be referred to by name."""
    ports: dict[str, tuple[str, int]] = {}
    for i, raw in enumerate(reader.sequence(spec.get("containers") or [], f"{path}.containers")):
        container = reader.mapping(raw, f"{path}.containers[{i}]")
        ports_path = f"{path}.containers[{i}].ports"
        for j, raw_port in enumerate(reader.sequence(container.get("ports") or [], ports_path)):
            port = reader.mapping(raw_port, f"{ports_path}[{j}]")
            if port.get("name") is None:
                continue
            name = reader.name(port.get("name"), f"{ports_path}[{j}].name")
            number = port.get("containerPort")
            if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 65536:
                raise reader.fail(f"{ports_path}[{j}].containerPort",
                                  f"expected a port number 1-65535, got {number!r}")
            protocol = str(port.get("protocol") or "TCP").lower()
            if protocol not in PORT_PROTOCOLS:
                raise reader.fail(f"{ports_path}[{j}].protocol",
                                  f"expected TCP, UDP or SCTP, got {port.get('protocol')!r}")
            ports[name] = (protocol, number)
    return MappingProxyType(ports)


def parse_docker_inspect(data: Any, filename: str, host: str) -> Inventory:
    """`docker inspect` of a host's containers: running ones become workloads on `host`."""
    reader = _Reader(filename)
    host = reader.name(host, "host")
    workloads: dict[str, WorkloadEntry] = {}
    for i, item in enumerate(reader.sequence(data, "")):
        path = f"[{i}]"
        container = reader.mapping(item, path)
        state = reader.mapping(container.get("State", {}), f"{path}.State")
        if not state.get("Running"):
            continue
        name = reader.name(str(container.get("Name") or "").lstrip("/") or None, f"{path}.Name")
        config = reader.mapping(container.get("Config") or {}, f"{path}.Config")
        host_config = reader.mapping(container.get("HostConfig") or {}, f"{path}.HostConfig")
        settings = reader.mapping(container.get("NetworkSettings") or {},
                                  f"{path}.NetworkSettings")
        networks = reader.mapping(settings.get("Networks") or {},
                                  f"{path}.NetworkSettings.Networks")
        ips: list[Any] = []
        interface = ""
        for net_name, raw in networks.items():
            net_path = f"{path}.NetworkSettings.Networks.{net_name}"
            net = reader.mapping(raw or {}, net_path)
            found = [ip for ip in (net.get("IPAddress"), net.get("GlobalIPv6Address")) if ip]
            if found and not interface:
                interface = _bridge_interface(net_name, net.get("NetworkID"))
            ips.extend(found)
        attachment = "host" if host_config.get("NetworkMode") == "host" else "bridged"
        started = state.get("StartedAt")
        if name in workloads:
            raise InventoryError(filename, f"{path}.Name", f"container {name!r} is listed twice")
        workloads[name] = WorkloadEntry(
            name, host, reader.addresses(ips, f"{path}.NetworkSettings.Networks"), attachment,
            "" if attachment == "host" else interface,
            reader.labels(config.get("Labels") or {}, f"{path}.Config.Labels"),
            None if not started else reader.moment(started, f"{path}.State.StartedAt"))
    return Inventory("docker", (), tuple(workloads.values()), frozenset({host}))


def _bridge_interface(network: str, network_id: Any) -> str:
    # Docker names the Linux bridge of its default network docker0 and of every user-defined
    # bridge network br-<first 12 hex digits of the network id>; FORWARD rules match on these.
    if network == "bridge":
        return "docker0"
    if isinstance(network_id, str) and len(network_id) >= 12:
        return f"br-{network_id[:12]}"
    return ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Typed access to a loaded document; every failure names the file and field path."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, path: str, reason: str) -> InventoryError:
        return InventoryError(self.filename, path, reason)

    def mapping(self, value: Any, path: str,
                allowed: frozenset[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {_kind(value)}")
        if allowed is not None:
            unknown = sorted(str(k) for k in value if k not in allowed)
            if unknown:
                raise self.fail(_join(path, unknown[0]),
                                f"unknown field; expected one of {sorted(allowed)}")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_kind(value)}")
        return value

    def name(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty name, got {_kind(value)}")
        if len(value) > MAX_NAME_LENGTH:
            raise self.fail(path, f"longer than {MAX_NAME_LENGTH} characters")
        return value.strip()

    def addresses(self, value: Any, path: str) -> tuple[str, ...]:
        result: list[str] = []
        for i, item in enumerate(self.sequence(value, path)):
            try:
                canonical = str(ipaddress.ip_address(str(item).strip()))
            except ValueError:
                raise self.fail(f"{path}[{i}]", f"not an IP address: {item!r}") from None
            if canonical not in result:
                result.append(canonical)
        return tuple(result)

    def labels(self, value: Any, path: str) -> Mapping[str, str]:
        labels: dict[str, str] = {}
        for key, raw in self.mapping(value, path).items():
            if isinstance(raw, bool):
                text = "true" if raw else "false"
            elif isinstance(raw, str | int | float):
                text = str(raw)
            elif raw is None:
                text = ""
            else:
                raise self.fail(_join(path, str(key)), f"a label value must be text, got "
                                f"{_kind(raw)}")
            labels[str(key)] = text
        return MappingProxyType(labels)

    def named_ports(self, value: Any, path: str) -> Mapping[str, tuple[str, int]]:
        """`{http: tcp/8080}`: port names to protocol and number."""
        ports: dict[str, tuple[str, int]] = {}
        for key, raw in self.mapping(value, path).items():
            proto, _, number = str(raw).lower().partition("/")
            if proto not in PORT_PROTOCOLS or not number.isdigit() or not 0 < int(number) < 65536:
                raise self.fail(_join(path, str(key)),
                                f"expected PROTOCOL/PORT like tcp/8080, got {raw!r}")
            ports[self.name(key, _join(path, str(key)))] = (proto, int(number))
        return MappingProxyType(ports)

    def moment(self, value: Any, path: str) -> datetime:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            raise self.fail(path, "a date without a time; give an ISO 8601 time with zone")
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self.fail(path, f"not an ISO 8601 time: {value!r}") from None
        else:
            raise self.fail(path, f"expected an ISO 8601 time, got {_kind(value)}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise self.fail(path, f"{value} has no time zone; add Z or an offset")
        return moment


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a number",
             float: "a number"}
    return names.get(type(value), type(value).__name__)
