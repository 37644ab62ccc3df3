"""Intent documents: segments, allows and the errors that name the field."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml

from collectors.intent import IntentError, PortRange, parse_intent, with_published_at

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
    ({"published_at": "2026-11-26T03:00:00"}, "published_at"),
    ({"published_at": datetime(2026, 11, 26).date()}, "published_at"),
    ({"published_at": "last tuesday"}, "published_at"),
    ({"kind": "NetworkPolicy"}, "kind"),
])
def test_it_names_the_field_that_is_wrong(patch, path):
    with pytest.raises(IntentError) as err:
        parse_intent({**INTENT, **patch}, "intent.yaml")
    assert err.value.path == path
    assert str(err.value).startswith(f"intent.yaml: {path}: ")


def test_it_reads_when_the_version_was_published():
    text = "published_at: 2026-11-26T05:00:00+01:00\nsegments: {}\n"

    intent = parse_intent(yaml.safe_load(text), "v2.yaml", "v2")

    assert intent.published_at == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    assert parse_intent(INTENT).published_at is None


AT = datetime(2026, 11, 26, 4, 59, 32, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize(("text", "expected"), [
    ("segments: {}\n", "published_at: 2026-11-26T03:59:32Z\nsegments: {}\n"),
    ("%YAML 1.1\n---\nsegments: {}\n",
     "%YAML 1.1\n---\npublished_at: 2026-11-26T03:59:32Z\nsegments: {}\n"),
    ('{"segments": {}}', '{"published_at": "2026-11-26T03:59:32Z", "segments": {}}'),
    ("published_at: 2026-01-01T00:00:00Z\n", "published_at: 2026-01-01T00:00:00Z\n"),
])
def test_it_adds_published_at_and_keeps_every_other_byte(text, expected):
    written = with_published_at(text, AT)

    assert written == expected
    assert parse_intent(yaml.safe_load(written)).published_at is not None
