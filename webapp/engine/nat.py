"""The binding the kernel's NAT core makes for a connection's first packet, stated only as far as
its choice is known: iptables' NAT targets and nft's NAT statements both bind through here."""

from __future__ import annotations

from webapp.engine.packet import PacketState

# Why an address or port is not stated, as notes of the translation.
INTERFACE_ADDRESS = "the interface's primary address, not in the dumps"
RANGE_ADDRESS = "picked from the range by the kernel"
PICKED_PORT = "picked by the kernel"


def chosen_port(current: int | None, low: int | None, high: int | None, field: str,
                random: bool) -> int | None:
    """The port nf_nat's get_unique_tuple gives when no other connection holds the tuple: DNAT
    keeps the port without a range and counts up from its first port otherwise; SNAT keeps a
    port inside its range (or any, without one) unless told to pick at random; every other
    choice is random (None). `current` None: the packet has no ports."""
    if current is None:
        return None
    if low is None or high is None:
        if field == "dst":
            return current
        return None if random else current
    if low == high:
        return low
    if not random and low <= current <= high:
        return current
    if field == "dst" and not random:
        return low
    return None


def bind(state: PacketState, field: str, address: int | None, low: int | None = None,
         high: int | None = None, random: bool = False, notes: list[str] | None = None) -> str:
    """Make the binding: rewrite the address (None: not known, `notes` say why) and, if the
    packet has ports, the port the kernel chooses in `low`-`high` (None where it picks at
    random)."""
    port_field = "dport" if field == "dst" else "sport"
    current = getattr(state, port_field)
    before = (getattr(state, field), current)
    port = chosen_port(current, low, high, field, random)
    setattr(state, field, address)
    setattr(state, port_field, port)
    notes = [f"{field}: {note}" for note in notes or ()]
    if current is not None and port is None:
        # Later port matches then depend on the port rather than miss it.
        state.extra["nat_unknown"] = state.extra.get("nat_unknown", frozenset()) | {port_field}
        notes.append(f"{port_field}: {PICKED_PORT}")
    # The kernel marks a connection as NATed only if its tuple actually changed.
    if (address, port) != before:
        if field == "dst":
            state.dnat_done = True
        else:
            state.snat_done = True
    state.extra.setdefault("nat", {})[field] = (address, port, notes)
    return f"{field} translated"

