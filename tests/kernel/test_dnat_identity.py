"""A DNAT that leaves the destination as it was does not give the connection the DNAT state."""

from __future__ import annotations

import pytest

from collectors.lab.netns import Lab
from collectors.lab.probes import Probe, tcp_flag_bits
from tests.kernel.differential import kernel_verdicts
from webapp.engine.host import load_host
from webapp.engine.packet import Packet

pytestmark = pytest.mark.kernel

RULES = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
         ":POSTROUTING ACCEPT [0:0]\n"
         "-A PREROUTING -p tcp -m tcp --dport 22 -j DNAT --to-destination 192.0.2.5:22\n"
         "-A PREROUTING -p tcp -m tcp --dport 23 -j DNAT --to-destination 192.0.2.5\n"
         "COMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
         "-A INPUT -m conntrack --ctstate DNAT -j ACCEPT\n-A INPUT -j REJECT\nCOMMIT\n")


@pytest.mark.parametrize("dport", [22, 23])
def test_a_dnat_that_changes_nothing_sets_no_dnat_state(lab: Lab, dport: int) -> None:
    probe = Probe(ip_id=1, src="10.2.1.1", dst="192.0.2.5", proto="tcp", sport=40001,
                  dport=dport, tcp_flags=tcp_flag_bits("SYN"))
    kernel = kernel_verdicts(lab, RULES, [("eth0", probe)])[1]
    ours = load_host(iptables=RULES).explain(Packet(
        src="10.2.1.1", dst="192.0.2.5", proto="tcp", sport=40001, dport=dport,
        in_iface="eth0"))
    assert kernel.verdict == "REJECT"
    assert (ours.verdict, ours.decided_by.rule_number) == ("REJECT", 2)
