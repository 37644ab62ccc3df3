"""What each `-j` target does to a packet and to the traversal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from collectors.iptables import Rule
from webapp.engine.nat import INTERFACE_ADDRESS, RANGE_ADDRESS, bind
from webapp.engine.packet import PacketState
from webapp.engine.values import ValueParseError, parse_address, parse_cidr, parse_mark

Effect = Callable[[PacketState], "str | None"]

# Targets that act on the packet or log it and let the traversal go on.
CONTINUING = frozenset({
    "LOG", "NFLOG", "ULOG", "TRACE", "CHECKSUM", "TCPMSS", "TOS", "DSCP", "TTL", "HL",
    "CLASSIFY", "SECMARK", "CONNSECMARK", "AUDIT", "IDLETIMER", "LED", "RATEEST", "TEE", "SET",
    "HMARK", "ECN", "TCPOPTSTRIP", "CT", "NOTRACK", "MARK", "CONNMARK",
})
NAT_TARGETS = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"})
# Targets whose outcome depends on a program or socket Segscope cannot see.
OPAQUE = frozenset({"QUEUE", "NFQUEUE", "TPROXY", "SYNPROXY", "CLUSTERIP"})


@dataclass(frozen=True, slots=True)
class TargetAction:
    """The effect of a rule's target: a verdict, a chain move, a packet change, or unknown."""

    kind: str  # verdict | return | jump | goto | continue | nat | unknown
    verdict: str | None = None
    chain: str | None = None
    effect: Effect | None = None
    describes: str = ""


def compile_target(rule: Rule, chains: Mapping[str, object]) -> TargetAction:
    """Interpret `-j`/`-g`; a name that is neither a chain nor a known target is unknown."""
    target = rule.target
    text = f"-j {target}" if target else ""
    if target is None:
        return TargetAction("continue", describes="(no target)")
    if target in chains:
        return TargetAction("goto" if rule.goto else "jump", chain=target, describes=text)
    if target in ("ACCEPT", "DROP"):
        return TargetAction("verdict", verdict=target, describes=text)
    if target == "REJECT":
        return TargetAction("verdict", verdict="REJECT", describes=text)
    if target == "RETURN":
        return TargetAction("return", describes=text)
    if target in NAT_TARGETS:
        return TargetAction("nat", effect=_nat_effect(rule), describes=text)
    if target == "MARK":
        return TargetAction("continue", effect=_mark_effect(rule, "mark"), describes=text)
    if target == "CONNMARK":
        return TargetAction("continue", effect=_connmark_effect(rule), describes=text)
    if target == "NOTRACK" or (target == "CT" and rule.target_option("notrack") is not None):
        return TargetAction("continue", effect=_notrack, describes=text)
    if target in CONTINUING:
        return TargetAction("continue", describes=text)
    if target in OPAQUE:
        return TargetAction("unknown", describes=f"{text}: verdict given by a userspace program")
    return TargetAction("unknown", describes=f"{text}: target not modelled")


def _notrack(state: PacketState) -> str:
    state.untracked = True
    return "connection tracking off (untracked)"


def _mark_value(rule: Rule, name: str) -> tuple[int, int] | None:
    opt = rule.target_option(name)
    return None if opt is None else parse_mark(opt.value)


def _mark_effect(rule: Rule, field: str) -> Effect:
    ops: list[tuple[str, int, int]] = []
    for opt in rule.target_options:
        if opt.name in ("set-xmark", "set-mark"):
            value, mask = parse_mark(opt.value)
            ops.append((opt.name, value, mask))
        elif opt.name in ("and-mark", "or-mark", "xor-mark"):
            value, _ = parse_mark(opt.value)
            ops.append((opt.name, value, 0))
    if not ops:
        raise ValueParseError(f"{rule.target} needs a mark operation")

    def effect(state: PacketState) -> str:
        mark = getattr(state, field)
        for name, value, mask in ops:
            if name == "set-xmark":
                mark = (mark & ~mask & 0xFFFFFFFF) ^ value
            elif name == "set-mark":
                mark = (mark & ~mask & 0xFFFFFFFF) | value
            elif name == "and-mark":
                mark &= value
            elif name == "or-mark":
                mark |= value
            else:
                mark ^= value
        setattr(state, field, mark)
        return f"{field} set to {mark:#x}"

    return effect


def _connmark_effect(rule: Rule) -> Effect:
    if rule.target_option("save-mark") or rule.target_option("restore-mark"):
        nfmask = _mark_value(rule, "nfmask") or (0xFFFFFFFF, 0)
        ctmask = _mark_value(rule, "ctmask") or (0xFFFFFFFF, 0)
        mask_opt = _mark_value(rule, "mask")
        nf, ct = (mask_opt[0], mask_opt[0]) if mask_opt else (nfmask[0], ctmask[0])
        saving = rule.target_option("save-mark") is not None

        def effect(state: PacketState) -> str:
            if not state.has_connection:
                return "no connection: CONNMARK does nothing"
            if saving:
                state.ctmark = (state.ctmark & ~ct & 0xFFFFFFFF) ^ (state.mark & nf)
                return f"ctmark set to {state.ctmark:#x}"
            state.mark = (state.mark & ~nf & 0xFFFFFFFF) ^ (state.ctmark & ct)
            return f"mark set to {state.mark:#x}"

        return effect
    set_ctmark = _mark_effect(rule, "ctmark")

    def effect_with_connection(state: PacketState) -> str | None:
        if not state.has_connection:
            return "no connection: CONNMARK does nothing"
        return set_ctmark(state)

    return effect_with_connection


def _parse_nat_range(text: str) -> tuple[int | None, int | None, int | None, int | None]:
    """`a[-b][:p[-q]]` (IPv6 in brackets) as (first, last address, first, last port)."""
    addr_part, port_part = text, ""
    if text.startswith("["):
        end = text.index("]")
        addr_part, port_part = text[1:end], text[end + 2:]
    elif text.count(":") == 1 or (text.startswith(":")):
        addr_part, _, port_part = text.partition(":")
    first = last = None
    if addr_part:
        low, _, high = addr_part.partition("-")
        first = parse_address(low)[1]
        last = parse_address(high)[1] if high else first
    port_low = port_high = None
    if port_part:
        lo, _, hi = port_part.partition("-")
        port_low = int(lo)
        port_high = int(hi) if hi else port_low
    return first, last, port_low, port_high


def _nat_effect(rule: Rule) -> Effect:
    target = rule.target
    # --random and --random-fully have the kernel pick the port; MASQUERADE's is not kept
    # either where many connections share the interface's address.
    random = target == "MASQUERADE" or any(
        rule.target_option(flag) is not None for flag in ("random", "random-fully"))
    if target in ("DNAT", "SNAT"):
        option = "to-destination" if target == "DNAT" else "to-source"
        opt = rule.target_option(option)
        if opt is None:
            raise ValueParseError(f"{target} needs --{option}")
        first, last, port_low, port_high = _parse_nat_range(opt.value)
        return _translate(target, first, last, port_low, port_high, random)
    if target == "NETMAP":
        opt = rule.target_option("to")
        if opt is None:
            raise ValueParseError("NETMAP needs --to")
        _, net, mask, _ = parse_cidr(opt.value)

        def netmap(state: PacketState) -> str:
            field = "dst" if state.extra.get("at") in ("PREROUTING", "OUTPUT") else "src"
            value = getattr(state, field)
            if value is None:
                return "address mapped (unknown)"
            full = (1 << (32 if state.family == 4 else 128)) - 1
            mapped = (value & (full ^ mask)) | net
            return bind(state, field, mapped)

        return netmap
    ports = rule.target_option("to-ports")
    port_low = port_high = None
    if ports is not None:
        lo, _, hi = ports.value.replace(":", "-").partition("-")
        port_low, port_high = int(lo), int(hi or lo)
    if target == "REDIRECT":
        def redirect(state: PacketState) -> str:
            # Locally generated packets go to loopback; others to the incoming interface's address.
            local = (0x7F000001 if state.family == 4 else 1) if state.hook == "OUTPUT" else None
            notes = [] if local is not None else [INTERFACE_ADDRESS]
            return bind(state, "dst", local, port_low, port_high, random, notes)

        return redirect

    def masquerade(state: PacketState) -> str:
        return bind(state, "src", None, port_low, port_high, random, [INTERFACE_ADDRESS])

    return masquerade


def _translate(target: str, first: int | None, last: int | None, port_low: int | None,
               port_high: int | None, random: bool) -> Effect:
    field = "dst" if target == "DNAT" else "src"
    notes = [RANGE_ADDRESS] if first != last else []

    def effect(state: PacketState) -> str:
        address = getattr(state, field) if first is None else first if first == last else None
        return bind(state, field, address, port_low, port_high, random, notes)

    return effect
