"""NetworkPolicy documents read into `NetworkPolicyIntent`; errors name the field path."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import yaml

from collectors.intent import IntentError
from collectors.netpol.policy import (
    IPBlock,
    LabelSelector,
    Network,
    NetworkPolicy,
    NetworkPolicyIntent,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    Requirement,
)

PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_SPEC_KEYS = frozenset({"podSelector", "policyTypes", "ingress", "egress"})
_SELECTOR_KEYS = frozenset({"matchLabels", "matchExpressions"})
_EXPRESSION_KEYS = frozenset({"key", "operator", "values"})
_PEER_KEYS = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_PORT_KEYS = frozenset({"protocol", "port", "endPort"})
_LIST_KINDS = ("List", "NetworkPolicyList")
# IANA_SVC_NAME, which a container port name must be and a named policy port refers to.
_PORT_NAME = re.compile(r"^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


def parse_network_policies(data_or_text: Any, filename: str = "<networkpolicy>",
                           version: str = "") -> NetworkPolicyIntent:
    """Read NetworkPolicy objects: a `List`, one object, a list of them, or the text of JSON or of
    YAML with one or several documents."""
    if isinstance(data_or_text, str | bytes):
        documents = _load(data_or_text, filename)
        objects = [(f"documents[{i}]" if len(documents) > 1 else "", doc)
                   for i, doc in enumerate(documents)]
    else:
        objects = [("", data_or_text)]
    reader = _Reader(filename)
    policies: dict[tuple[str, str], NetworkPolicy] = {}
    for base, doc in objects:
        for path, item in reader.objects(doc, base):
            policy = reader.policy(item, path)
            if (policy.namespace, policy.name) in policies:
                raise reader.fail(_join(path, "metadata.name"), f"policy {policy.namespace}/"
                                  f"{policy.name} is given twice")
            policies[(policy.namespace, policy.name)] = policy
    return NetworkPolicyIntent(tuple(policies.values()), version)


def _load(text: str | bytes, filename: str) -> list[Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntentError(filename, "(top)", f"not UTF-8 text (byte {exc.start})") from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            return [json.loads(stripped)]
        except json.JSONDecodeError as exc:
            raise IntentError(filename, "(top)", f"invalid JSON at line {exc.lineno}, "
                              f"column {exc.colno}: {exc.msg}") from None
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise IntentError(filename, "(top)", f"invalid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise IntentError(filename, "(top)", f"invalid YAML: {exc}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Typed access to NetworkPolicy documents; every failure names the file and field path."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, path: str, reason: str) -> IntentError:
        return IntentError(self.filename, path or "(top)", reason)

    def mapping(self, value: Any, path: str, allowed: frozenset[str] | None = None,
                ) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if allowed is not None and k not in allowed)
        if unknown:
            raise self.fail(_join(path, unknown[0]),
                            f"unknown field; expected one of {sorted(allowed or ())}")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"expected non-empty text, got {value!r}")
        return value

    def objects(self, doc: Any, base: str) -> Iterable[tuple[str, Any]]:
        if isinstance(doc, list):
            return [(f"{base}[{i}]", item) for i, item in enumerate(doc)]
        top = self.mapping(doc, base)
        if top.get("kind") in _LIST_KINDS or ("items" in top and "kind" not in top):
            return [(f"{_join(base, 'items')}[{i}]", item)
                    for i, item in enumerate(self.sequence(top.get("items"), _join(base, "items")))]
        return [(base, top)]

    def policy(self, value: Any, path: str) -> NetworkPolicy:
        item = self.mapping(value, path)
        if item.get("kind") != "NetworkPolicy":
            raise self.fail(_join(path, "kind"),
                            f"expected NetworkPolicy, got {item.get('kind')!r}")
        meta = self.mapping(item.get("metadata"), _join(path, "metadata"))
        name = self.text(meta.get("name"), _join(path, "metadata.name"))
        namespace = self.text(meta.get("namespace", "default"), _join(path, "metadata.namespace"))
        spec_path = _join(path, "spec")
        spec = self.mapping(item.get("spec"), spec_path, _SPEC_KEYS)
        ingress = self.rules(spec.get("ingress"), f"{spec_path}.ingress", "from")
        egress = self.rules(spec.get("egress"), f"{spec_path}.egress", "to")
        types_path = f"{spec_path}.policyTypes"
        types = [self.text(t, f"{types_path}[{i}]")
                 for i, t in enumerate(self.sequence(spec.get("policyTypes"), types_path))]
        for i, kind in enumerate(types):
            if kind not in ("Ingress", "Egress"):
                raise self.fail(f"{types_path}[{i}]", f"expected Ingress or Egress, got {kind!r}")
        if not types:
            # Kubernetes' defaulting: Ingress always, Egress when there are egress rules.
            types = ["Ingress", "Egress"] if egress else ["Ingress"]
        return NetworkPolicy(namespace, name,
                             self.selector(spec.get("podSelector"), f"{spec_path}.podSelector"),
                             frozenset(types), ingress, egress)

    def rules(self, value: Any, path: str, peers_key: str) -> tuple[PolicyRule, ...]:
        rules = []
        for i, raw in enumerate(self.sequence(value, path)):
            rule_path = f"{path}[{i}]"
            rule = self.mapping(raw, rule_path, frozenset({peers_key, "ports"}))
            peers_path = f"{rule_path}.{peers_key}"
            peers = tuple(self.peer(p, f"{peers_path}[{j}]")
                          for j, p in enumerate(self.sequence(rule.get(peers_key), peers_path)))
            ports_path = f"{rule_path}.ports"
            ports = tuple(self.port(p, f"{ports_path}[{j}]")
                          for j, p in enumerate(self.sequence(rule.get("ports"), ports_path)))
            rules.append(PolicyRule(peers or None, ports or None))
        return tuple(rules)

    def peer(self, value: Any, path: str) -> PolicyPeer:
        peer = self.mapping(value, path, _PEER_KEYS)
        given = [k for k in ("podSelector", "namespaceSelector", "ipBlock")
                 if peer.get(k) is not None]
        if not given:
            raise self.fail(path, "a peer names a podSelector, a namespaceSelector or an ipBlock")
        if "ipBlock" in given and len(given) > 1:
            raise self.fail(_join(path, "ipBlock"), "an ipBlock cannot be combined with selectors")
        pods, spaces = peer.get("podSelector"), peer.get("namespaceSelector")
        return PolicyPeer(
            None if pods is None else self.selector(pods, _join(path, "podSelector")),
            None if spaces is None else self.selector(spaces, _join(path, "namespaceSelector")),
            None if "ipBlock" not in given else self.ip_block(peer["ipBlock"],
                                                              _join(path, "ipBlock")))

    def ip_block(self, value: Any, path: str) -> IPBlock:
        block = self.mapping(value, path, frozenset({"cidr", "except"}))
        cidr = self.network(block.get("cidr"), _join(path, "cidr"))
        excepted = []
        for i, raw in enumerate(self.sequence(block.get("except"), _join(path, "except"))):
            net = self.network(raw, f"{path}.except[{i}]")
            if net.version != cidr.version or not net.subnet_of(cidr):  # type: ignore[arg-type]
                raise self.fail(f"{path}.except[{i}]", f"{net} is not inside cidr {cidr}")
            excepted.append(net)
        return IPBlock(cidr, tuple(excepted))

    def network(self, value: Any, path: str) -> Network:
        try:
            return ipaddress.ip_network(self.text(value, path).strip(), strict=False)
        except ValueError:
            raise self.fail(path, f"not a CIDR: {value!r}") from None

    def port(self, value: Any, path: str) -> PolicyPort:
        entry = self.mapping(value, path, _PORT_KEYS)
        raw_protocol = entry.get("protocol") or "TCP"
        if raw_protocol not in PROTOCOLS:
            raise self.fail(_join(path, "protocol"),
                            f"expected TCP, UDP or SCTP, got {raw_protocol!r}")
        port, end = entry.get("port"), entry.get("endPort")
        if isinstance(port, str):
            if not _PORT_NAME.match(port):
                raise self.fail(_join(path, "port"), f"not a port number or name: {port!r}")
        elif port is not None and not self.is_port(port):
            raise self.fail(_join(path, "port"), f"expected a port 1-65535 or a name, got {port!r}")
        if end is not None:
            if not isinstance(port, int):
                raise self.fail(_join(path, "endPort"), "endPort needs a numeric port")
            if not self.is_port(end) or end < port:
                raise self.fail(_join(path, "endPort"),
                                f"expected a port from {port} to 65535, got {end!r}")
        return PolicyPort(PROTOCOLS[raw_protocol], port, end)

    @staticmethod
    def is_port(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536

    def selector(self, value: Any, path: str) -> LabelSelector:
        selector = self.mapping(value, path, _SELECTOR_KEYS)
        labels_path = _join(path, "matchLabels")
        labels = {}
        for key, raw in self.mapping(selector.get("matchLabels"), labels_path).items():
            if not isinstance(raw, str):
                raise self.fail(f"{labels_path}.{key}", f"a label value is text (quote it), "
                                f"got {raw!r}")
            labels[str(key)] = raw
        expressions = []
        exprs_path = _join(path, "matchExpressions")
        for i, raw in enumerate(self.sequence(selector.get("matchExpressions"), exprs_path)):
            expr_path = f"{exprs_path}[{i}]"
            expr = self.mapping(raw, expr_path, _EXPRESSION_KEYS)
            key = self.text(expr.get("key"), f"{expr_path}.key")
            operator = expr.get("operator")
            if operator not in OPERATORS:
                raise self.fail(f"{expr_path}.operator",
                                f"expected one of {', '.join(OPERATORS)}, got {operator!r}")
            values = self.sequence(expr.get("values"), f"{expr_path}.values")
            if any(not isinstance(v, str) for v in values):
                raise self.fail(f"{expr_path}.values", "label values are text (quote them)")
            if (operator in ("In", "NotIn")) != bool(values):
                raise self.fail(f"{expr_path}.values", f"{operator} needs values" if
                                operator in ("In", "NotIn") else f"{operator} takes no values")
            expressions.append(Requirement(key, operator, frozenset(values)))
        return LabelSelector(MappingProxyType(labels), tuple(expressions))
