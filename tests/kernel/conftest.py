"""The lab for kernel tests: root, the netfilter tools, one set of namespaces per session.

Kernel tests fail (never skip) when the machine cannot run them, so that a CI runner that lost
root or a tool does not pass silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from collectors.lab.netns import Lab, remove_stale_namespaces
from tests.kernel.differential import Tally

REQUIRED_TOOLS = {"ip": "iproute2", "iptables-restore": "iptables", "iptables-save": "iptables",
                  "xtables-monitor": "iptables", "ipset": "ipset", "nft": "nftables",
                  "conntrack": "conntrack"}


def lab_problem() -> str | None:
    """Why this machine cannot run the lab, or None when it can."""
    if os.geteuid() != 0:
        return "they must run as root (network namespaces, iptables, raw sockets)"
    missing = sorted({f"{tool} (Debian package {package})" for tool, package
                      in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        return "missing tools: " + ", ".join(missing)
    version = subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout
    if "nf_tables" not in version:
        return f"iptables must be the nf_tables variant (xtables-monitor traces it): {version}"
    return None


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The namespaces (receiver, two senders, egress), built once and always removed."""
    problem = lab_problem()
    if problem is not None:
        pytest.fail(f"kernel tests cannot run: {problem}", pytrace=False)
    remove_stale_namespaces()
    with Lab() as built:
        yield built


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.rulesets:
        return
    share = 100.0 * TALLY.agreed / TALLY.probes if TALLY.probes else 0.0
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(TALLY.verdicts.items()))
    terminalreporter.write_sep("-", "kernel differential")
    terminalreporter.write_line(
        f"{TALLY.rulesets} rule sets, {TALLY.probes} probes, {TALLY.agreed} agreed "
        f"({share:.2f}%), {TALLY.probes - TALLY.agreed - TALLY.imprecise} wrong, "
        f"{TALLY.imprecise} imprecise; kernel verdicts: {verdicts}")
    if TALLY.failed_seeds:
        terminalreporter.write_line(f"seeds with disagreements: {TALLY.failed_seeds}")
