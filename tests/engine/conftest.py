"""Helpers for engine tests: build a host from dump text and ask about one packet."""

import pytest

from webapp.engine.host import load_host
from webapp.engine.packet import Packet


def host_from(filter_rules: str = "", *, tables: str = "", ipset: str | None = None,
              policy: str = "DROP", chains: str = ""):
    """A host whose filter INPUT policy is `policy`, with extra chains, rules and tables."""
    text = tables + (f"*filter\n:INPUT {policy} [0:0]\n:FORWARD {policy} [0:0]\n"
                     f":OUTPUT ACCEPT [0:0]\n{chains}{filter_rules}COMMIT\n")
    return load_host(iptables=text, ipset=ipset)


def ask(host, hook="INPUT", **fields):
    packet = Packet(**{"src": "198.51.100.7", "dst": "192.0.2.10", "proto": "tcp",
                       "sport": 40000, "dport": 22, **fields})
    return host.explain(packet, hook)


@pytest.fixture
def make_host():
    return host_from
