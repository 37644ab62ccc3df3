"""Random matches on connection tracking and marks, each with a hint (see matchgen).

A probe's connection state is what the lab can make the kernel see: NEW, ESTABLISHED (an
inserted conntrack entry), INVALID (an unsolicited ICMP reply or refused TCP flags), UNTRACKED
(through a NOTRACK rule) and DNAT (through a DNAT rule). RELATED and SNAT never happen.
"""

from __future__ import annotations

import random

from tests.kernel.drafts import COMMON_PORTS, Draft
from tests.kernel.matchgen import Context, Hint, Match, bang, destination, neg, source


def ctstate(rng: random.Random) -> Match:
    use_state = rng.random() < 0.25
    pool = ("NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED") + (
        () if use_state else ("DNAT", "SNAT"))
    states = rng.sample(pool, rng.choice((1, 1, 2, 3)))
    negated = neg(rng, 0.15)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        wanted = set(states) if satisfy != negated else set(pool) - set(states)
        choices: list[str] = [s for s in ("NEW", "ESTABLISHED", "INVALID") if s in wanted]
        if "UNTRACKED" in wanted and ctx.notrack_rules:
            choices.append("UNTRACKED")
        if "DNAT" in wanted and ctx.dnat_rules:
            choices.append("DNAT")
        if not choices:
            return
        choice = ctx.rng.choice(choices)
        if choice == "UNTRACKED":
            ctx.rng.choice(ctx.notrack_rules).apply(ctx, draft, 1.0)
        elif choice == "DNAT":
            draft.set_state(ctx.rng, "NEW", ctx.explicit_flags)
            ctx.rng.choice(ctx.dnat_rules).apply(ctx, draft, 1.0)
        else:
            draft.set_state(ctx.rng, choice, ctx.explicit_flags)

    listed = ",".join(states)
    if use_state:
        return Match(f"-m state {bang(negated)}--state {listed}", hint)
    return Match(f"-m conntrack {bang(negated)}--ctstate {listed}", hint)


def mark(rng: random.Random, values: list[int], connmark: bool) -> Match:
    value = rng.choice(values) if values and rng.random() < 0.8 else rng.choice((1, 2, 0x10))
    mask = rng.choice((0xFFFFFFFF, value | rng.choice((0, 0xF0)), value))
    negated = neg(rng, 0.15)
    module = "connmark" if connmark else "mark"

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        rules = ctx.connmark_rules if connmark else ctx.mark_rules
        fitting = [r for r in rules if r.mark is not None and (r.mark & mask) == value]
        if satisfy != negated and fitting:
            ctx.rng.choice(fitting).apply(ctx, draft, 1.0)
            if connmark and draft.ct_state == "INVALID":
                draft.set_state(ctx.rng, "NEW", ctx.explicit_flags)

    shown = f"0x{value:x}" if mask == 0xFFFFFFFF else f"0x{value:x}/0x{mask:x}"
    return Match(f"-m {module} {bang(negated)}--mark {shown}", hint)


def conntrack_details(rng: random.Random, kind: str) -> Match:
    """`-m conntrack` beyond the state: status bits, original and reply tuple, direction."""
    parts: list[str] = []
    hints: list[Hint] = []
    for option in rng.sample(("ctstatus", "ctorigsrc", "ctorigdst", "ctorigdstport",
                              "ctreplsrc", "ctdir"), rng.choice((1, 1, 2))):
        negated = neg(rng, 0.25) and option != "ctdir"
        if option == "ctstatus":
            # Not ASSURED: whether an established connection is assured is not in the probe.
            statuses = rng.sample(("NONE", "EXPECTED", "SEEN_REPLY", "CONFIRMED"),
                                  rng.choice((1, 1, 2)))
            parts.append(f"{bang(negated)}--ctstatus {','.join(statuses)}")
            established = bool({"SEEN_REPLY", "CONFIRMED"} & set(statuses))

            def status_hint(ctx: Context, draft: Draft, satisfy: bool, negated: bool = negated,
                            established: bool = established) -> None:
                if draft.proto != "icmp":
                    draft.set_state(ctx.rng, "ESTABLISHED" if (satisfy != negated) == established
                                    else "NEW", ctx.explicit_flags)

            hints.append(status_hint)
        elif option in ("ctorigsrc", "ctorigdst", "ctreplsrc"):
            inner = source(rng) if option == "ctorigsrc" else destination(rng, kind)
            net = inner.args.split()[-1]
            parts.append(f"{bang(negated)}--{option} {net}")
            if inner.hint is not None:
                hints.append(_flip(inner.hint, negated != inner.args.startswith("!")))
        elif option == "ctorigdstport":
            port = rng.choice(COMMON_PORTS)
            parts.append(f"{bang(negated)}--ctorigdstport {port}")

            def port_hint(ctx: Context, draft: Draft, satisfy: bool, negated: bool = negated,
                          port: int = port) -> None:
                draft.dport = port if satisfy != negated else port + 1

            hints.append(port_hint)
        else:
            parts.append(f"--ctdir {rng.choice(('ORIGINAL', 'ORIGINAL', 'REPLY'))}")

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        for each in hints:
            each(ctx, draft, satisfy)

    return Match("-m conntrack " + " ".join(parts), hint)


def _flip(hint: Hint, flip: bool) -> Hint:
    if not flip:
        return hint

    def flipped(ctx: Context, draft: Draft, satisfy: bool) -> None:
        hint(ctx, draft, not satisfy)

    return flipped
