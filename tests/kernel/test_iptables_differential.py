"""Segscope against the Linux kernel: random iptables + ipset rule sets, thousands of probes.

Each seed makes one rule set and its probes; the kernel's own trace gives the verdict and the
deciding rule, `segscope explain` must give the same. Settings (environment):
SEGSCOPE_KERNEL_SEED (first seed, default 0; `random` to explore, the seed is in the test id),
SEGSCOPE_KERNEL_RULESETS (default 80), SEGSCOPE_KERNEL_PROBES (per rule set, default 40).
"""

from __future__ import annotations

import os
import random

import pytest

from collectors.lab.netns import Lab
from tests.kernel.differential import Tally, run_differential
from tests.kernel.generator import generate

pytestmark = pytest.mark.kernel

_SEED = os.environ.get("SEGSCOPE_KERNEL_SEED", "0")
FIRST_SEED = random.SystemRandom().randrange(10**9) if _SEED == "random" else int(_SEED)
RULESETS = int(os.environ.get("SEGSCOPE_KERNEL_RULESETS", "80"))
PROBES = int(os.environ.get("SEGSCOPE_KERNEL_PROBES", "40"))


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + RULESETS))
def test_segscope_gives_the_kernels_verdict_and_deciding_rule(lab: Lab, tally: Tally,
                                                              seed: int) -> None:
    # Given a random rule set loaded in the lab's host, and probes aimed at its rules
    generated = generate(seed, PROBES)

    # When the kernel and `segscope explain` see the same probes
    outcome = run_differential(lab, generated)
    tally.add(outcome)

    # Then they agree on every verdict, deciding rule and translation
    if outcome.disagreements:
        pytest.fail(outcome.message(), pytrace=False)
