"""nft NAT statements (dnat, snat, masquerade, redirect) with the effect iptables' NAT targets
have in webapp/engine/iptables/targets.py: the new address and port, and the connection's NAT
status."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from webapp.engine.evaluate import EvalRun
from webapp.engine.nat import INTERFACE_ADDRESS, RANGE_ADDRESS, bind
from webapp.engine.nft.sets import SetResolver
from webapp.engine.nft.types import BREAK
from webapp.engine.nft.values import ValueReader, compile_value, resolve
from webapp.engine.packet import PacketState
from webapp.engine.values import ValueParseError

# (first address, last address, first port, last port, IP version of the address); None where
# the statement leaves it.
Target = tuple[int | None, int | None, int | None, int | None, int | None]


def nat_bound(state: PacketState, at: str) -> bool:
    """Whether a NAT chain earlier on this hook already made the binding (later ones are
    skipped by the kernel's NAT core)."""
    field = "dst" if at in ("PREROUTING", "OUTPUT") else "src"
    return field in state.extra.get("nat", {})


def _address_target(raw: Any, dtype: str) -> Target:
    """An address, `a-b` range, prefix or `addr . port` as NAT target bounds."""
    try:
        if isinstance(raw, dict) and "concat" in raw and len(raw["concat"]) == 2:
            first, last, _, _, version = _address_target(raw["concat"][0], dtype)
            low, high = _port_bounds(raw["concat"][1])
            return first, last, low, high, version
        if isinstance(raw, dict) and "prefix" in raw:
            text = f"{raw['prefix']['addr']}/{raw['prefix']['len']}"
            net = ipaddress.ip_network(text, strict=False)
            return (int(net.network_address), int(net.broadcast_address), None, None,
                    net.version)
        if isinstance(raw, dict) and "range" in raw:
            start, end = (ipaddress.ip_address(a) for a in raw["range"])
            return int(start), int(end), None, None, start.version
        if isinstance(raw, str):
            address = ipaddress.ip_address(raw)
            return int(address), int(address), None, None, address.version
    except (ValueError, TypeError, KeyError):
        pass
    raise ValueParseError(f"not a NAT address: {raw!r}")


def _port_bounds(raw: Any) -> tuple[int, int]:
    if isinstance(raw, dict) and "range" in raw:
        return int(raw["range"][0]), int(raw["range"][1])
    if isinstance(raw, int):
        return raw, raw
    raise ValueParseError(f"not a NAT port: {raw!r}")


def compile_nat(kind: str, body: Any, family: str, sets: SetResolver, key: tuple[object, ...],
                describes: object) -> Callable[[EvalRun, list[str]], bool | None]:
    """A step for a NAT statement: True once it has bound (the NAT chain then ends with
    accept), None when it does not apply to the packet's family, False when a map missed."""
    body = body if isinstance(body, dict) else {}
    nat_family = body.get("family") or {"ip": "ip", "ip6": "ip6"}.get(family)
    version = {"ip": 4, "ip6": 6}.get(str(nat_family))
    dtype = "ipv6_addr" if version == 6 else "ipv4_addr"
    flags = body.get("flags") or []
    flags = set(flags if isinstance(flags, list) else [flags])
    addr: ValueReader | None = None
    if "addr" in body:
        addr = compile_value(body["addr"], dtype, family, sets,
                             parse=lambda raw: _address_target(raw, dtype))
    port: ValueReader | None = None
    if "port" in body:
        port = compile_value(body["port"], "inet_service", family, sets, parse=_port_bounds)
    field = "src" if kind in ("snat", "masquerade") else "dst"
    # random and fully-random have the kernel pick the port; masquerade's is not kept either
    # where many connections share the interface's address.
    random = kind == "masquerade" or bool(flags & {"random", "fully-random"})

    def step(run: EvalRun, notes: list[str]) -> bool | None:
        state = run.state
        if version is not None and state.family != version and kind in ("snat", "dnat"):
            return None  # `dnat ip to` in an inet table leaves IPv6 packets alone
        first = last = port_low = port_high = None
        if addr is not None:
            target = resolve(run, key + ("addr",), f"{describes}: address", addr(state))
            if target is BREAK:
                return False
            if isinstance(target, int):  # read from the packet (`dnat to ip saddr`)
                target = (target, target, None, None, state.family)
            if not isinstance(target, tuple):  # computed by something Segscope cannot see
                notes.append(bind(state, field, None, random=random,
                                  notes=["not known"]))
                return True
            first, last, port_low, port_high, address_version = target
            if address_version != state.family:
                return None  # an address of the other family: the kernel leaves it alone
        if port is not None:
            bounds = resolve(run, key + ("port",), f"{describes}: port", port(state))
            if bounds is BREAK:
                return False
            if isinstance(bounds, int):
                bounds = (bounds, bounds)
            port_low, port_high = bounds if isinstance(bounds, tuple) else (None, None)
        address = _new_address(state, kind, field, first, flags)
        nat_notes = []
        if kind in ("masquerade", "redirect") and address is None:
            nat_notes.append(INTERFACE_ADDRESS)
        if "netmap" in flags and first is not None and last is not None:
            value = getattr(state, field)
            host = last - first
            address = None if value is None else first | (value & host)
        elif first is not None and last != first:
            address = None
            nat_notes.append(RANGE_ADDRESS)
        notes.append(bind(state, field, address, port_low, port_high, random, nat_notes))
        return True

    return step


def _new_address(state: PacketState, kind: str, field: str, first: int | None,
                 flags: set[Any]) -> int | None:
    if kind == "masquerade":
        return None  # the outgoing interface's address is not in the dump
    if kind == "redirect":
        # Locally generated packets go to loopback; others to the incoming interface's address.
        if state.hook == "OUTPUT":
            return 0x7F000001 if state.family == 4 else 1
        return None
    return first if first is not None else getattr(state, field)

