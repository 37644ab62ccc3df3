"""What the explain endpoint takes, and the graph, drift and convergence entries the API gives
in the shapes of the offline CLI's JSON."""

from typing import Any

from rest_framework import serializers

from webapp.engine.analysis.drift import KINDS
from webapp.engine.packet import CT_STATES, HOOKS


class ExplainRequestSerializer(serializers.Serializer):
    """A flow to explain on one host, as an on-call engineer describes it."""

    host = serializers.CharField()
    hook = serializers.ChoiceField(choices=HOOKS, default="INPUT")
    snapshot = serializers.IntegerField(required=False, help_text="default: the latest")
    src = serializers.IPAddressField()
    dst = serializers.IPAddressField()
    proto = serializers.CharField(default="tcp")
    sport = serializers.IntegerField(required=False, min_value=0, max_value=65535)
    dport = serializers.IntegerField(required=False, min_value=0, max_value=65535)
    icmp_type = serializers.IntegerField(required=False, min_value=0, max_value=255,
                                         help_text="default: echo request (8; 128 for IPv6)")
    icmp_code = serializers.IntegerField(default=0, min_value=0, max_value=255)
    in_iface = serializers.CharField(required=False, max_length=15)
    out_iface = serializers.CharField(required=False, max_length=15)
    ct_state = serializers.ChoiceField(choices=CT_STATES, default="NEW")
    mark = serializers.IntegerField(default=0, min_value=0)
    length = serializers.IntegerField(
        required=False, min_value=0, max_value=65575,
        help_text="IP total length in bytes, the IPv6 header (40) included; without it, "
                  "length matches (`-m length`, `meta length`) are answered as depends on")


class GraphQuerySerializer(serializers.Serializer):
    """Which edges to list."""

    level = serializers.ChoiceField(choices=("workload", "segment"), default="workload")
    segment = serializers.CharField(required=False,
                                    help_text="edges from or to this segment (or its members)")
    host = serializers.CharField(required=False, help_text=(
        "workload level: edges with a workload on this host at either end; segment level: "
        "edges whose evidence names this host"))
    port = serializers.CharField(required=False, help_text="edges allowing it: tcp/5432, icmp")
    at = serializers.DateTimeField(required=False, help_text=(
        "the fleet as it was then, computed on the fly (default: the stored newest state)"))


class EvidenceSerializer(serializers.Serializer):
    """A deciding rule on one host and the ports it decided."""

    host = serializers.CharField()
    hook = serializers.CharField()
    verdict = serializers.CharField()
    table = serializers.CharField()
    chain = serializers.CharField()
    rule_number = serializers.IntegerField(required=False, allow_null=True)
    line = serializers.IntegerField(required=False, allow_null=True)
    handle = serializers.IntegerField(required=False)
    policy = serializers.BooleanField(required=False)
    family = serializers.CharField(required=False)
    text = serializers.CharField(required=False)
    packets = serializers.IntegerField(required=False)
    bytes = serializers.IntegerField(required=False)
    note = serializers.CharField(required=False)
    ports = serializers.ListField(child=serializers.CharField())


class GraphEdgeSerializer(serializers.Serializer):
    """An edge as `segscope graph --json` prints it; segment edges add the pair counts."""

    src = serializers.CharField()
    dst = serializers.CharField()
    allowed = serializers.ListField(child=serializers.CharField())
    pairs = serializers.IntegerField(required=False, help_text="segment level: workload pairs")
    pairs_allowed = serializers.DictField(child=serializers.IntegerField(), required=False,
                                          help_text="segment level: pairs allowed, per port")
    status = serializers.ChoiceField(choices=("full", "partial"), required=False)
    evidence = serializers.ListField(child=serializers.DictField())

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance)


class DriftQuerySerializer(serializers.Serializer):
    """Which findings to list."""

    kind = serializers.ChoiceField(choices=KINDS, required=False)
    host = serializers.CharField(required=False)
    segment = serializers.CharField(required=False,
                                    help_text="findings whose source or destination is in it")


class DriftFindingSerializer(serializers.Serializer):
    """A finding as `segscope drift --json` prints it."""

    kind = serializers.ChoiceField(choices=KINDS)
    host = serializers.CharField(allow_null=True)
    rule = serializers.DictField(allow_null=True)
    set = serializers.CharField(allow_null=True)
    address = serializers.CharField(allow_null=True)
    src_segment = serializers.CharField(allow_null=True)
    dst_segment = serializers.CharField(allow_null=True)
    workloads = serializers.ListField(child=serializers.CharField())
    ports = serializers.ListField(child=serializers.CharField())
    since = serializers.CharField(allow_null=True)
    note = serializers.CharField(required=False)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance)


class HostConvergenceSerializer(serializers.Serializer):
    """When one host listed in a generation reached its desired state."""

    host = serializers.CharField()
    converged_at = serializers.CharField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)


class GenerationSerializer(serializers.Serializer):
    """A generation as `segscope convergence --json` prints it."""

    generation = serializers.IntegerField()
    cause = serializers.CharField()
    intent = serializers.CharField(allow_null=True)
    opened_at = serializers.CharField()
    hosts = HostConvergenceSerializer(many=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    stragglers = serializers.ListField(child=serializers.CharField())
    converged = serializers.IntegerField()
    listed = serializers.IntegerField()
    drops_while_converging = serializers.ListField(child=serializers.DictField())

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance)


class CostQuerySerializer(serializers.Serializer):
    """Whose cost, and when."""

    host = serializers.CharField(required=False, help_text="only this host's entries")
    at = serializers.DateTimeField(required=False, help_text="the fleet as it was then "
                                   "(default: the newest state)")


class HostCostSerializer(serializers.Serializer):
    """One host at one snapshot."""

    host = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    rules = serializers.IntegerField()
    set_members = serializers.IntegerField()
    flat_rules = serializers.IntegerField(help_text="the same policy without sets")
    traversed_avg = serializers.FloatField(allow_null=True, help_text=(
        "rules a new connection is checked against before its verdict (newest snapshot)"))
    traversed_max = serializers.IntegerField(allow_null=True)


class FleetCostSerializer(serializers.Serializer):
    """The fleet's sums at one snapshot time."""

    at = serializers.DateTimeField()
    rules = serializers.IntegerField()
    set_members = serializers.IntegerField()
    flat_rules = serializers.IntegerField()


class ActivationSerializer(serializers.Serializer):
    """Rule and set-member changes per second, against what the workloads' churn needs."""

    changes = serializers.IntegerField()
    seconds = serializers.FloatField()
    per_second = serializers.FloatField(allow_null=True)
    needed = serializers.IntegerField()
    needed_per_second = serializers.FloatField(allow_null=True)


class CostSerializer(serializers.Serializer):
    """`segscope cost --json` for the stored fleet."""

    hosts = HostCostSerializer(many=True)
    fleet = FleetCostSerializer(many=True)
    activation = ActivationSerializer()
