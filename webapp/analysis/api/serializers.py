"""What the explain endpoint takes."""

from rest_framework import serializers

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
