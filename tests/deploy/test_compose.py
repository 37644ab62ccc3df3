"""docker-compose.yml, read as data (no Docker engine here): every long-running service has a
health check, and web, worker and beat run the bin/ scripts that the tests and the load
benchmark start, so that what is tested is what is deployed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.deployment import BIN, ROLES, command
from tests.browser import servers

REPO_ROOT = Path(__file__).resolve().parents[2]
ONE_SHOT = {"migrate"}  # runs to completion before the others start


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with open(REPO_ROOT / "docker-compose.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_it_gives_every_long_running_service_a_health_check(compose: dict[str, Any]) -> None:
    long_running = set(compose["services"]) - ONE_SHOT

    missing = sorted(name for name in long_running
                     if "test" not in compose["services"][name].get("healthcheck", {}))

    assert missing == []
    assert long_running >= {"postgres", "redis", "web", "worker", "background", "beat"}


def test_it_runs_the_one_shot_migration_before_the_application(
        compose: dict[str, Any]) -> None:
    for role in ROLES:
        depends = compose["services"][role]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_web_worker_and_beat_run_the_scripts_the_tests_start(compose: dict[str, Any]) -> None:
    for role in ROLES:
        script = Path(command(role)[0])

        assert compose["services"][role]["command"][0] == f"bin/{role}"
        assert script == BIN / role and os.access(script, os.X_OK)
    assert compose["services"]["worker"]["command"] == ["bin/worker", "-Q", "celery"]
    background = compose["services"]["background"]
    assert background["command"] == ["bin/worker", "-Q", "background", "--concurrency=1"]
    assert background["environment"]["WORKER_PRIORITY"] == "idle"
    assert background["environment"]["DATABASE_URL"] == compose["services"]["worker"][
        "environment"]["DATABASE_URL"]


def test_the_queues_the_compose_workers_take_are_all_the_queues_tasks_go_to(
        compose: dict[str, Any]) -> None:
    from django.conf import settings

    taken = {compose["services"][name]["command"][2] for name in ("worker", "background")}

    assert taken == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} <= taken


@pytest.mark.django_db(transaction=True)
def test_the_browser_tests_start_bin_web_and_bin_worker() -> None:
    server = servers.start_uvicorn()
    worker = servers.start_worker()
    try:
        started = [server.process.args[0], worker.args[0]]  # type: ignore[index]
    finally:
        servers.stop(server.process)
        servers.stop(worker)

    assert started == [str(BIN / "web"), str(BIN / "worker")]


@pytest.mark.parametrize(("role", "expected"), [
    ("web", "-m uvicorn webapp.asgi:application --host 0.0.0.0 --port 8000 --lifespan off "
            "--timeout-worker-healthcheck 30 --log-level info"),
    ("worker", "-m celery -A webapp.celery worker --loglevel=INFO"),
    ("beat", "-m celery -A webapp.celery beat --loglevel=INFO "
             "--schedule=/tmp/celerybeat-schedule"),
])
def test_each_script_runs_its_server_with_the_arguments_given_last(role: str,
                                                                   expected: str) -> None:
    # PYTHON=echo prints the command line the script would run.
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "CELERY_BEAT_SCHEDULE")}
    env["PYTHON"] = "echo"

    printed = subprocess.run(command(role, "--extra"), env=env, capture_output=True, text=True,
                             check=True).stdout.strip()

    assert printed == f"{expected} --extra"


def test_the_web_server_logs_at_log_level() -> None:
    env = {**os.environ, "PYTHON": "echo", "LOG_LEVEL": "WARNING"}

    printed = subprocess.run(command("web"), env=env, capture_output=True, text=True,
                             check=True).stdout.strip()

    assert printed.endswith("--timeout-worker-healthcheck 30 --log-level warning")


def test_the_image_copies_the_scripts_and_serves_with_bin_web() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")

    assert "COPY bin ./bin" in dockerfile
    assert 'CMD ["bin/web"]' in dockerfile


def _worker_with(tmp_path: Path, priority: str) -> subprocess.CompletedProcess[str]:
    """bin/worker with a PYTHON that prints the scheduling class and niceness it was started
    in."""
    probe = tmp_path / "python"
    probe.write_text("#!/bin/sh\nexec python3 -c 'import os; print(os.sched_getscheduler(0), "
                     "os.getpriority(os.PRIO_PROCESS, 0))'\n")
    probe.chmod(0o755)
    return subprocess.run([str(BIN / "worker")], env={**os.environ, "PYTHON": str(probe),
                                                     "WORKER_PRIORITY": priority},
                          capture_output=True, text=True, check=False, timeout=30)


def test_the_background_worker_runs_only_on_cpu_time_nothing_else_wants(
        tmp_path: Path) -> None:
    assert _worker_with(tmp_path, "idle").stdout.split()[0] == str(os.SCHED_IDLE)
    assert _worker_with(tmp_path, "normal").stdout.split() == [str(os.SCHED_OTHER), "0"]


def test_the_analysis_worker_at_high_priority_runs_ahead_of_the_web_processes(
        tmp_path: Path) -> None:
    done = _worker_with(tmp_path, "high")

    assert done.returncode == 0
    if os.geteuid() == 0:  # root may raise a priority; others run at 0, and are told
        assert done.stdout.split() == [str(os.SCHED_OTHER), "-10"]
    else:
        assert done.stdout.split() == [str(os.SCHED_OTHER), "0"]
        assert "cannot set niceness" in done.stderr


def test_the_compose_analysis_worker_may_raise_its_priority(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]

    assert worker["environment"]["WORKER_PRIORITY"] == "high"
    assert "SYS_NICE" in worker["cap_add"]


def test_the_worker_refuses_a_priority_it_does_not_know(tmp_path: Path) -> None:
    done = _worker_with(tmp_path, "19")

    assert done.returncode == 2
    assert "WORKER_PRIORITY must be normal, idle or high, not '19'" in done.stderr
