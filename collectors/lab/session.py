"""One lab fleet, kept in a state directory between commands: up, apply, traffic, status, down.

The state directory holds `state.json` (the plan, the intents, which intent each host holds,
the drop-log daemons), `inventory.yaml` (the fleet as a Segscope inventory), `traffic.jsonl`
(every connection tried) and `hosts/<host>/` (ulogd's config, log and `drops.json`). `down`
removes all of it along with every namespace and daemon of the lab.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.agent.collect import Collection as Dumps
from collectors.agent.collect import collect_dumps
from collectors.agent.protocol import iso_time
from collectors.bundle import inventory_yaml
from collectors.intent import Intent
from collectors.inventory import InventoryError, load_document
from collectors.lab import control, droplog, fleet
from collectors.lab.droplog import DropLog
from collectors.lab.fleet import FleetPlan, LabHost
from collectors.lab.netns import LabError
from collectors.lab.traffic import (
    DEFAULT_TIMEOUT,
    Connection,
    plan_attempts,
    run_round,
    summary_lines,
    write_report,
)

STATE_FILE = "state.json"
CREATED = (STATE_FILE, "inventory.yaml", "traffic.jsonl", "hosts")
LOG_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class TrafficResult:
    """Every connection of some rounds, and blocked ones no host's drop log shows."""

    connections: list[Connection]
    unlogged: list[Connection] = field(default_factory=list)


def load_labels(path: Path) -> list[dict[str, str]]:
    """A labels file: a YAML list of label mappings, given to workloads in turn."""
    try:
        data = load_document(path.read_bytes(), str(path))
    except (OSError, InventoryError) as exc:
        raise LabError(f"cannot read labels {path}: {exc}") from None
    if not isinstance(data, list) or not data or not all(
            isinstance(item, dict) and item for item in data):
        raise LabError(f"{path}: expected a list of label mappings, e.g. - {{app: web}}")
    return [{str(k): str(v) for k, v in item.items()} for item in data]


class FleetLab:
    """A lab fleet and its state directory; every change is saved before the call returns."""

    def __init__(self, state_dir: Path, state: dict[str, Any]) -> None:
        self.state_dir = state_dir
        self.state = state
        self.plan = FleetPlan.from_dict(state["plan"])

    # -- life cycle -----------------------------------------------------------------------------

    @classmethod
    def up(cls, state_dir: Path, *, hosts: int, workloads: int, intent_path: Path,
           use_sets: bool = True, delay: float = 0.0, failing: Collection[str] = (),
           labels: Sequence[Mapping[str, str]] = fleet.DEMO_LABELS, tag: str | None = None,
           report: Callable[[str], None] = lambda _: None) -> FleetLab:
        """Build the fleet, start its drop logs, roll the intent out; on failure remove all."""
        intent, text = control.load_intent(intent_path)
        state_dir = state_dir.resolve()
        if (state_dir / STATE_FILE).exists():
            raise LabError(f"a lab is already up in {state_dir}; `segscope lab down` first")
        plan = fleet.plan_fleet(tag or secrets.token_hex(2), hosts, workloads,
                                iso_time(time.time()), labels)
        state_dir.mkdir(parents=True, exist_ok=True)
        lab = cls(state_dir, {"plan": plan.to_dict(), "use_sets": use_sets, "intents": {},
                              "newest": None, "hosts": {}, "drop_logs": {}})
        try:
            lab._save()  # first, so that `down` finds what a failure leaves
            fleet.build_fleet(plan)
            report(f"built {len(plan.hosts)} hosts, {len(plan.workloads)} workloads "
                   f"(namespaces {fleet.PREFIX}-{plan.tag}-*)")
            for host in plan.hosts:
                log = droplog.start_drop_log(host.name, host.netns, lab.host_dir(host.name))
                lab.state["drop_logs"][host.name] = log.to_dict()
                lab._save()
            (state_dir / "inventory.yaml").write_text(
                inventory_yaml(fleet.inventory_document(plan)))
            lab._roll_out(intent, text, delay, failing, report)
        except BaseException as exc:
            try:
                lab.down()
            except Exception as cleanup:  # the first failure is the one to report
                exc.add_note(f"removing the half-built lab failed too: {cleanup}")
            raise
        return lab

    @classmethod
    def open(cls, state_dir: Path) -> FleetLab:
        """The lab whose state is in `state_dir`."""
        path = state_dir.resolve() / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab in {state_dir} (no {STATE_FILE}); `segscope lab up` "
                           "first") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot read {path}: {exc}") from None
        return cls(state_dir.resolve(), state)

    def down(self) -> list[str]:
        """Stop the drop logs, delete every namespace, remove the state; return what went."""
        logs = [DropLog.from_dict(d) for d in self.state.get("drop_logs", {}).values()]
        problems = []
        for log in [*logs, *stray_drop_logs(self.state_dir)]:
            try:
                droplog.stop_drop_log(log)
            except OSError as exc:  # keep going: the namespaces must go in any case
                problems.append(f"ulogd {log.pid}: {exc}")
        removed = fleet.destroy_fleet(self.plan.tag)
        for name in CREATED:
            path = self.state_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        if self.state_dir.is_dir() and not any(self.state_dir.iterdir()):
            self.state_dir.rmdir()
        if problems:
            raise LabError("; ".join(problems))
        return removed

    # -- control plane --------------------------------------------------------------------------

    def apply(self, intent_path: Path, *, delay: float = 0.0, failing: Collection[str] = (),
              report: Callable[[str], None] = lambda _: None) -> list[control.ApplyResult]:
        """Roll a (changed) intent out to every host in turn."""
        intent, text = control.load_intent(intent_path)
        return self._roll_out(intent, text, delay, failing, report)

    def _roll_out(self, intent: Intent, text: str, delay: float, failing: Collection[str],
                  report: Callable[[str], None]) -> list[control.ApplyResult]:
        self.state["intents"][intent.version] = text
        self.state["newest"] = intent.version
        self._save()

        def applied(result: control.ApplyResult) -> None:
            if result.applied:
                self.state["hosts"][result.host] = {"version": result.version,
                                                    "applied_at": iso_time(result.at)}
                self._save()
            report(str(result))

        return control.roll_out(self.plan, intent, use_sets=self.state["use_sets"], delay=delay,
                                failing=failing, report=applied)

    def intent(self, version: str) -> Intent:
        return control.parse_intent_text(self.state["intents"][version], f"intent {version}",
                                         version)

    def loaded_intents(self) -> dict[str, Intent | None]:
        """The intent each host has loaded; None: no rules yet (everything is forwarded)."""
        held = self.state["hosts"]
        return {h.name: self.intent(held[h.name]["version"]) if h.name in held else None
                for h in self.plan.hosts}

    # -- traffic --------------------------------------------------------------------------------

    def traffic(self, rounds: int = 1, *, timeout: float = DEFAULT_TIMEOUT,
                report: Callable[[str], None] = lambda _: None) -> TrafficResult:
        """Run rounds of connections, then wait (within LOG_TIMEOUT) until the drop log of
        each blocked connection's destination host shows it."""
        newest = self.intent(self.state["newest"])
        loaded = self.loaded_intents()
        connections: list[Connection] = []
        for index in range(rounds):
            attempts = plan_attempts(self.plan, newest, index)
            done = run_round(self.plan, attempts, loaded, newest, index, timeout)
            write_report(self.state_dir / "traffic.jsonl", done)
            for line in summary_lines(done):
                report(f"round {index + 1}: {line}")
            connections += done
        unlogged = self.wait_for_drop_logs([c for c in connections if c.blocked])
        for connection in unlogged:
            report(f"not in a drop log within {LOG_TIMEOUT:g}s: {connection}")
        return TrafficResult(connections, unlogged)

    def wait_for_drop_logs(self, blocked: Sequence[Connection],
                           timeout: float = LOG_TIMEOUT) -> list[Connection]:
        """Poll the drop logs until each blocked connection is there; return those missing."""
        deadline = time.monotonic() + timeout
        while True:
            logged = {(d.src, d.sport, d.dst, d.dport)
                      for host in self.plan.hosts for d in droplog.read_drops(self.drop_log(
                          host.name))}
            missing = [c for c in blocked
                       if (c.src_address, c.sport, c.dst_address, c.dport) not in logged]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.05)

    # -- what is there --------------------------------------------------------------------------

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    def drop_log(self, host: str) -> DropLog:
        return DropLog.from_dict(self.state["drop_logs"][host])

    def collect(self, host: str) -> Dumps:
        """The host's dumps, collected as the agent collects them."""
        return collect_dumps(self.plan.host(host).netns)

    def status_lines(self) -> list[str]:
        """Hosts with the intent they hold and their loaded rule counts, then workloads."""
        alive = set(fleet.lab_namespaces(self.plan.tag))
        up = [h for h in self.plan.hosts if h.netns in alive]
        counts = control.loaded_rule_counts(up)
        lines = [f"lab {self.plan.tag} in {self.state_dir}: {len(self.plan.hosts)} hosts, "
                 f"{len(self.plan.workloads)} workloads; newest intent {self.state['newest']}"]
        for host in self.plan.hosts:
            held = self.state["hosts"].get(host.name)
            holds = f"intent {held['version']} since {held['applied_at']}" if held else \
                "no intent loaded"
            behind = held is None or held["version"] != self.state["newest"]
            rules = f"{counts[host.name]} rules" if host.netns in alive else "NAMESPACE MISSING"
            lines.append(f"{host.name}  {host.address}  {rules}  {holds}"
                         f"{'  (straggler)' if behind else ''}  drops: "
                         f"{self.drop_log(host.name).json_path}")
            for workload in self.plan.workloads_on(host.name):
                labels = ",".join(f"{k}={v}" for k, v in workload.labels.items())
                lines.append(f"  {workload.name:<20} {workload.address:<12} "
                             f"{workload.interface}  {labels}")
        return lines

    def hosts(self) -> tuple[LabHost, ...]:
        return self.plan.hosts

    def _save(self) -> None:
        path = self.state_dir / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        os.replace(tmp, path)


def stray_drop_logs(state_dir: Path) -> list[DropLog]:
    """ulogd processes whose config lies in `state_dir` (left by an interrupted command)."""
    found = []
    prefix = str(state_dir.resolve()) + os.sep
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
        except (OSError, UnicodeDecodeError):
            continue
        if argv and os.path.basename(argv[0]) == "ulogd" and "-c" in argv[:-1]:
            config = argv[argv.index("-c") + 1]
            if config.startswith(prefix):
                found.append(DropLog("?", int(entry), config, "", ""))
    return found


def down(state_dir: Path, tag: str | None = None) -> list[str]:
    """Remove the lab of `state_dir`, or only the namespaces of lab `tag` when there is no
    state; returns the namespaces removed."""
    if (state_dir / STATE_FILE).exists():
        return FleetLab.open(state_dir).down()
    for log in stray_drop_logs(state_dir):
        droplog.stop_drop_log(log)
    if tag is None:
        raise LabError(f"no lab in {state_dir}; give --tag to remove a lab's namespaces")
    return fleet.destroy_fleet(tag)
