"""Rule tables as a distributed-ACL control plane writes them, for benchmarks and the demo."""

from __future__ import annotations

import random


def workload_address(segment: int, member: int) -> str:
    third = ((segment & 0xF) << 4) | (member >> 4 & 0xF)
    return f"10.{(segment >> 4) & 0xFF}.{third}.{member & 0xF}"


def host_table(rules: int, seed: int = 1, with_sets: bool = False,
               segments: int = 1000, members: int = 20) -> tuple[str, str | None]:
    """An iptables-save filter table of about `rules` rules (and an ipset dump when with_sets):
    FORWARD dispatches by workload interface to a per-workload chain that allows peer
    addresses of permitted segments on their ports, then drops."""
    rng = random.Random(seed)
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    body: list[str] = ["-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    sets: list[str] = []
    count = 1
    workload = 0
    while count < rules:
        chain = f"seg-wl{workload}"
        lines.append(f":{chain} - [0:0]")
        body.append(f"-A FORWARD -o cali{workload:08x} -j {chain}")
        count += 1
        for peer in rng.sample(range(segments), 5):
            port = rng.choice((5432, 8000, 443, 53, 6379))
            if with_sets:
                name = f"seg-{peer}"
                if not any(s.startswith(f"create {name} ") for s in sets):
                    sets.append(f"create {name} hash:ip family inet hashsize 1024 maxelem 65536")
                    sets.extend(f"add {name} {workload_address(peer, m)}" for m in range(members))
                body.append(f"-A {chain} -p tcp -m set --match-set {name} src -m tcp "
                            f"--dport {port} -j ACCEPT")
                count += 1
            else:
                for member in range(members):
                    body.append(f"-A {chain} -s {workload_address(peer, member)}/32 -p tcp "
                                f"-m tcp --dport {port} -j ACCEPT")
                    count += 1
        body.append(f"-A {chain} -j DROP")
        count += 1
        workload += 1
    return "\n".join(lines + body + ["COMMIT", ""]), ("\n".join(sets) + "\n" if with_sets else None)


def input_table(rules: int, seed: int = 2) -> str:
    """A flat 5,000-rule INPUT chain of the shape `-s X -p tcp --dport P -j ACCEPT`, then DROP."""
    rng = random.Random(seed)
    out = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    for _ in range(rules - 1):
        segment, member = rng.randrange(1000), rng.randrange(20)
        port = rng.choice((22, 53, 80, 443, 5432, 6379, 8000, 8080))
        out.append(f"-A INPUT -s {workload_address(segment, member)}/32 -p tcp -m tcp "
                   f"--dport {port} -j ACCEPT")
    out.append("-A INPUT -j DROP")
    return "\n".join(out + ["COMMIT", ""])
