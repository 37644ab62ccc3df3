"""A generated firewall of 5,000 rules answers (the time is measured in docs/analysis.md)."""

from __future__ import annotations

import ipaddress
import random

from webapp.engine.matrix.service import MatrixRequest, service_matrix


def generated_firewall(rules: int = 5000, seed: int = 7) -> str:
    """Rules over /16 to /28 networks of 10/8, mixed ports, verdicts and user chains."""
    rng = random.Random(seed)
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    chains = [f"zone{i}" for i in range(20)]
    lines.extend(f":{name} - [0:0]" for name in chains)

    def net() -> str:
        prefix = rng.randint(16, 28)
        address = (10 << 24) | rng.getrandbits(24)
        address &= ~((1 << (32 - prefix)) - 1)
        return f"{ipaddress.IPv4Address(address)}/{prefix}"

    for number in range(rules):
        chain = "FORWARD" if number % 5 == 0 else rng.choice(chains)
        parts = [f"-A {chain}"]
        if rng.random() < 0.8:
            parts.append(f"-s {net()}")
        if rng.random() < 0.8:
            parts.append(f"-d {net()}")
        parts.append(f"-p tcp -m tcp --dport {rng.choice([22, 80, 443, 8080, 5432])}")
        if chain == "FORWARD" and rng.random() < 0.5:
            parts.append(f"-j {rng.choice(chains)}")
        else:
            parts.append(f"-j {rng.choice(['ACCEPT', 'ACCEPT', 'DROP', 'RETURN'])}")
        lines.append(" ".join(parts))
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def test_it_answers_for_a_5000_rule_firewall() -> None:
    result = service_matrix(MatrixRequest("FORWARD", "tcp", 22),
                            iptables=generated_firewall()).to_dict()
    assert result["edges"]
    covered = sum(len(ranges) for ranges in result["classes"].values())
    assert covered >= len(result["classes"])
