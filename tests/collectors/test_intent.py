"""Intent documents: segments, allows and the errors that name the field."""

import pytest
import yaml

from collectors.intent import IntentError, PortRange, parse_intent

INTENT = yaml.safe_load("""
segments:
  payments: {app: payments}
  ledger:   {app: ledger, env: prod}
allow:
  - {from: payments, to: ledger, ports: [tcp/5432, tcp/8000-8100]}
  - {from: "cidr:10.0.0.0/8", to: ledger, ports: [udp/53, icmp]}
default: deny
""")


def test_it_reads_segments_and_allows():
    intent = parse_intent(INTENT, "intent.yaml")
    assert intent.segments["ledger"] == {"app": "ledger", "env": "prod"}
    assert intent.allows[0].ports == (PortRange("tcp", 5432, 5432), PortRange("tcp", 8000, 8100))
    assert intent.allows[1].source.cidr == "10.0.0.0/8"
    assert intent.to_dict()["allow"][0] == {"from": "payments", "to": "ledger",
                                            "ports": ["tcp/5432", "tcp/8000-8100"]}


@pytest.mark.parametrize(("patch", "path"), [
    ({"allow": [{"from": "nobody", "to": "ledger", "ports": ["tcp/1"]}]}, "allow[0].from"),
    ({"allow": [{"from": "payments", "to": "ledger", "ports": ["tcp/99999"]}]},
     "allow[0].ports[0]"),
    ({"allow": [{"from": "payments", "to": "ledger", "ports": []}]}, "allow[0].ports"),
    ({"segments": {"x": {}}}, "segments.x"),
    ({"default": "allow"}, "default"),
])
def test_it_names_the_field_that_is_wrong(patch, path):
    with pytest.raises(IntentError) as err:
        parse_intent({**INTENT, **patch}, "intent.yaml")
    assert err.value.path == path
    assert str(err.value).startswith(f"intent.yaml: {path}: ")
