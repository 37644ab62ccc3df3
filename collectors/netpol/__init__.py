"""Kubernetes NetworkPolicy as intent: `kubectl get networkpolicy -A -o json` (a `List`), one
object, or YAML of one or several documents, evaluated with Kubernetes' own semantics.

A connection from pod A to pod B is allowed when A's egress allows it and B's ingress allows it.
A pod that no policy with `Ingress` in its `policyTypes` selects accepts every connection; one that
such a policy selects accepts only what the union of those policies' ingress rules allows (the
same for egress). Workloads that are not pods on the pod network (no namespace label, or host
network, which the most common implementations cannot tell from the node) are never selected and
match only `ipBlock` peers.

Pure Python and PyYAML; anything malformed raises `IntentError` naming the field path, like
`items[2].spec.ingress[0].ports[1].endPort`.
"""

from collectors.netpol.parse import parse_network_policies
from collectors.netpol.policy import (
    ALL_PORTS,
    NAMESPACE_NAME_LABEL,
    NetworkPolicy,
    NetworkPolicyIntent,
    Workload,
)

__all__ = ["ALL_PORTS", "NAMESPACE_NAME_LABEL", "NetworkPolicy", "NetworkPolicyIntent",
           "Workload", "parse_network_policies"]
