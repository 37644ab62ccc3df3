"""The lab fleet for kernel tests: root, the netfilter tools and ulogd2, always removed.

Like tests/kernel, these tests fail (never skip) on a machine that cannot run them, so that a CI
runner that lost root or a tool does not pass silently. A lab is tagged with the test process's
id; namespaces and ulogd daemons of a test process that died are removed on the next run.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.lab import droplog, fleet
from collectors.lab.netns import run
from collectors.lab.session import FleetLab

REQUIRED_TOOLS = {"ip": "iproute2", "iptables-restore": "iptables", "iptables-save": "iptables",
                  "ipset": "ipset", "nft": "nftables", "conntrack": "conntrack",
                  "ulogd": "ulogd2"}
# t<pid in hex>g<n>: the pid is readable back out of the tag.
_TEST_NAMESPACE = re.compile(rf"^{fleet.PREFIX}-t([0-9a-f]+)g\d+-")
_TEST_CONFIG = re.compile(r"/lab-t([0-9a-f]+)g\d+/")


def lab_problem() -> str | None:
    """Why this machine cannot run the lab, or None when it can."""
    if os.geteuid() != 0:
        return "they must run as root (network namespaces, iptables, NFLOG)"
    missing = sorted({f"{tool} (Debian package {package})" for tool, package
                      in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        return "missing tools: " + ", ".join(missing)
    return droplog.ulogd_problem()


def _gone(pid: str) -> bool:
    return not os.path.exists(f"/proc/{int(pid, 16)}")


def remove_stale_labs() -> None:
    """Namespaces and ulogd daemons of test labs whose test process is gone."""
    for line in run(["ip", "netns", "list"]).splitlines():
        name = line.split()[0] if line.split() else ""
        match = _TEST_NAMESPACE.match(name)
        if match and _gone(match.group(1)):
            run(["ip", "netns", "del", name], check=False)
    for log in droplog_processes():
        match = _TEST_CONFIG.search(log.config)
        if match and _gone(match.group(1)):
            droplog.stop_drop_log(log)


def droplog_processes() -> list[droplog.DropLog]:
    """Every ulogd on the machine started with a config under a test lab directory."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
        except (OSError, UnicodeDecodeError):
            continue
        if os.path.basename(argv[0]) == "ulogd" and "-c" in argv[:-1]:
            config = argv[argv.index("-c") + 1]
            if _TEST_CONFIG.search(config):
                found.append(droplog.DropLog("?", int(entry), config, "", ""))
    return found


@pytest.fixture(scope="session")
def lab_machine() -> None:
    """Fails the test unless the machine can run labs; clears labs of dead test runs."""
    problem = lab_problem()
    if problem is not None:
        pytest.fail(f"lab tests cannot run: {problem}", pytrace=False)
    remove_stale_labs()


@pytest.fixture(scope="session")
def lab_tag() -> Callable[[], str]:
    """A new tag for each lab of this test process: t<pid in hex>g<n>."""
    numbers = itertools.count(1)
    return lambda: f"t{os.getpid():x}g{next(numbers)}"


def write_intent(directory: Path, version: str, allows: list[str]) -> Path:
    """An intent file over the demo segments with these allow lines."""
    path = directory / f"{version}.yaml"
    path.write_text("segments:\n  payments: {app: payments}\n  ledger: {app: ledger, env: prod}\n"
                    "  web: {app: web}\n  cache: {app: cache}\nallow:\n"
                    + "".join(f"  - {line}\n" for line in allows) + "default: deny\n")
    return path


V1 = ["{from: payments, to: ledger, ports: [tcp/5432]}",
      "{from: web, to: payments, ports: [tcp/8080]}"]
V2 = [*V1, "{from: web, to: cache, ports: [tcp/6379]}"]


@pytest.fixture
def make_lab(lab_machine: None, lab_tag: Callable[[], str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., FleetLab]]:
    """Builds labs that are always removed at the end of the test."""
    labs: list[FleetLab] = []

    def make(**kwargs: Any) -> FleetLab:
        tag = lab_tag()
        root = tmp_path_factory.mktemp(f"lab-{tag}", numbered=False)
        kwargs.setdefault("intent_path", write_intent(root, "v1", V1))
        lab = FleetLab.up(root / "state", tag=tag, **kwargs)
        labs.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.down()
