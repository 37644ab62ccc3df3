"""The ingest limits come from the environment and refuse values that are not limits."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def _check(**overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c",
         "import django; django.setup(); from django.conf import settings; "
         "print(settings.SEGSCOPE_MAX_UPLOAD_BYTES, settings.SEGSCOPE_MAX_RULES, "
         "settings.SEGSCOPE_MAX_FLOW_BATCH)"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", **overrides})


def test_the_limits_default_to_the_protocols_values() -> None:
    env = {name: "" for name in ("SEGSCOPE_MAX_UPLOAD_BYTES", "SEGSCOPE_MAX_RULES",
                                 "SEGSCOPE_MAX_FLOW_BATCH")}

    result = _check(**env)

    assert result.stdout.split() == [str(32 * 1024 * 1024), "500000", "200000"]


def test_a_limit_may_be_written_with_underscores() -> None:
    result = _check(SEGSCOPE_MAX_RULES="1_000_000")

    assert result.stdout.split()[1] == "1000000"


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1e6"])
def test_a_limit_that_is_no_positive_number_stops_the_process(value: str) -> None:
    result = _check(SEGSCOPE_MAX_FLOW_BATCH=value)

    assert result.returncode != 0
    assert "SEGSCOPE_MAX_FLOW_BATCH" in result.stderr
    assert "is not a positive whole number" in result.stderr
