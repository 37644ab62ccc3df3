"""Drop logs of the lab's hosts: one ulogd2 per host namespace reads NFLOG group 1 and writes
JSON lines, the format the agent follows as `ulogd2:PATH`.

NFLOG is per network namespace, so each host needs a reader of its own, and nothing on the
machine outside the lab is read or changed (the LOG target would need the global
`net.netfilter.nf_log_all_netns` and the shared kernel log). Needs the Debian packages ulogd2
and ulogd2-json.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from collectors.lab.netns import LabError

NFLOG_GROUP = 1
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
READY_MARK = "entering main loop"
_PLUGIN_GLOBS = ("/usr/lib/*/ulogd/ulogd_output_JSON.so", "/usr/lib/ulogd/ulogd_output_JSON.so",
                 "/usr/lib64/ulogd/ulogd_output_JSON.so")
_PLUGINS = ("inppkt_NFLOG", "filter_IFINDEX", "filter_IP2STR", "raw2packet_BASE", "output_JSON")
# Started in this process: reaped when stopped (a daemon started by an earlier command is not
# our child and is only signalled).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class DropLog:
    """A running ulogd of one host: its pid, config, JSON output and own log."""

    host: str
    pid: int
    config: str
    json_path: str
    log_path: str

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "config": self.config,
                "json_path": self.json_path, "log_path": self.log_path}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DropLog:
        return cls(str(data["host"]), int(str(data["pid"])), str(data["config"]),
                   str(data["json_path"]), str(data["log_path"]))


@dataclass(frozen=True, slots=True)
class LoggedDrop:
    """A packet a host's NFLOG rule logged: addresses, ports and the prefix (rule reference)."""

    host: str
    src: str
    sport: int | None
    dst: str
    dport: int | None
    proto: int | None
    prefix: str
    at: float


def plugin_dir() -> str | None:
    """Where ulogd2's plugins (with the JSON output of ulogd2-json) are installed, or None."""
    for pattern in _PLUGIN_GLOBS:
        for path in sorted(glob.glob(pattern)):
            return os.path.dirname(path)
    return None


def ulogd_problem() -> str | None:
    """Why drops cannot be logged here, or None."""
    if shutil.which("ulogd") is None:
        return "ulogd is not installed (Debian packages ulogd2 and ulogd2-json)"
    if plugin_dir() is None:
        return "ulogd's JSON output is not installed (Debian package ulogd2-json)"
    return None


def ulogd_config(plugins: str, json_path: str, log_path: str, group: int = NFLOG_GROUP) -> str:
    """A ulogd.conf: NFLOG `group` through IP2STR to JSON lines, written through (sync)."""
    lines = ["[global]", f'logfile="{log_path}"', "loglevel=3"]
    lines += [f'plugin="{plugins}/ulogd_{name}.so"' for name in _PLUGINS]
    lines += ["stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON", "",
              "[log1]", f"group={group}", "", "[json1]", "sync=1", f'file="{json_path}"', ""]
    return "\n".join(lines)


def start_drop_log(host: str, netns: str, directory: Path) -> DropLog:
    """Start ulogd inside `netns`, writing into `directory`; return once it reads NFLOG."""
    problem = ulogd_problem()
    if problem is not None:
        raise LabError(f"cannot log drops: {problem}")
    directory.mkdir(parents=True, exist_ok=True)
    config, json_path, log_path = (directory / "ulogd.conf", directory / "drops.json",
                                   directory / "ulogd.log")
    config.write_text(ulogd_config(str(plugin_dir()), str(json_path), str(log_path)))
    log_path.write_text("")
    json_path.touch()
    with open(directory / "ulogd.stderr", "wb") as stderr:
        # `ip netns exec` execs ulogd: the pid is ulogd's. A session of its own, so that it
        # outlives `segscope lab up` and a terminal's Ctrl-C.
        process = subprocess.Popen(["ip", "netns", "exec", netns, "ulogd", "-c", str(config)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
    _CHILDREN[process.pid] = process
    log = DropLog(host, process.pid, str(config), str(json_path), str(log_path))
    deadline = time.monotonic() + START_TIMEOUT
    while READY_MARK not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_drop_log(log)
            detail = (log_path.read_text(errors="replace").strip().splitlines() or [""])[-1]
            raise LabError(f"ulogd for {host} did not start: {detail or 'no log'}")
        time.sleep(0.02)
    return log


def _is_ours(log: DropLog) -> bool:
    """True when the pid still runs the ulogd started with this config (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{log.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"ulogd" in os.path.basename(cmdline[0]) and log.config.encode() in cmdline


def stop_drop_log(log: DropLog) -> None:
    """Stop a host's ulogd (TERM, then KILL after STOP_TIMEOUT)."""
    child = _CHILDREN.pop(log.pid, None)
    if not _is_ours(log):
        if child is not None:
            child.wait()
        return
    os.kill(log.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _is_ours(log) and (child is None or child.poll() is None):
        if time.monotonic() > deadline:
            os.kill(log.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    if child is not None:
        child.wait()


def read_drops(log: DropLog) -> list[LoggedDrop]:
    """The packets logged so far (complete lines only)."""
    return list(parse_drops(log.host, Path(log.json_path).read_text(errors="replace")))


def parse_drops(host: str, text: str) -> Iterator[LoggedDrop]:
    """LoggedDrops of ulogd JSON lines; a line still being written is left for later."""
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n") or not line.strip():
            continue
        doc = json.loads(line)
        yield LoggedDrop(host, doc.get("src_ip", ""), doc.get("src_port"), doc.get("dest_ip", ""),
                         doc.get("dest_port"), doc.get("ip.protocol"),
                         str(doc.get("oob.prefix", "")),
                         doc.get("oob.time.sec", 0) + doc.get("oob.time.usec", 0) / 1e6)
