"""Match modules compiled to checks: each check answers True, False or None (cannot be known)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collectors.iptables import Match, Option
from webapp.engine.iptables.setlookup import NO_MAC, Endpoint, SetLookup
from webapp.engine.packet import PacketState
from webapp.engine.values import (
    PORT_PROTOCOLS,
    ValueParseError,
    interface_matches,
    parse_cidr,
    parse_icmp_type,
    parse_mark,
    parse_port_list,
    parse_port_range,
    parse_protocol,
    parse_tcp_flags,
)

Check = Callable[[PacketState], "bool | None"]


@dataclass(frozen=True, slots=True)
class CompiledCheck:
    """One condition of a rule and the words used when its outcome cannot be known."""

    check: Check
    text: str | Match | Option
    module: Match | None = None

    @property
    def describes(self) -> str:
        # Formatted only when an explanation needs it: compiling large tables stays cheap.
        if isinstance(self.text, str):
            return self.text
        if isinstance(self.text, Match):
            return _describe(self.text)
        if self.module is None:  # a generic option: -s, -d, -p, -i, -o, -f
            neg = "! " if self.text.negated else ""
            return f"{neg}-{self.text.name[0]} {self.text.value}".rstrip()
        return _describe(self.module, self.text)


def _negate(check: Check, negated: bool) -> Check:
    if not negated:
        return check

    def inverted(state: PacketState) -> bool | None:
        result = check(state)
        return None if result is None else not result

    return inverted


def address_check(field: str, text: str, negated: bool, family: int) -> Check:
    """`-s`/`-d` and friends: a network match on the current source or destination."""
    fam, net, mask, _ = parse_cidr(text)
    if fam != family:
        raise ValueParseError(f"address {text} is not IPv{family}")

    def check(state: PacketState) -> bool | None:
        value = getattr(state, field)
        if value is None:
            return None
        return ((value & mask) == net) != negated

    return check


def interface_check(field: str, pattern: str, negated: bool) -> Check:
    def check(state: PacketState) -> bool | None:
        return interface_matches(pattern, getattr(state, field)) != negated

    return check


def protocol_check(text: str, negated: bool) -> Check:
    number = parse_protocol(text)
    if number == 0:
        return lambda state: not negated

    def check(state: PacketState) -> bool | None:
        return (state.proto == number) != negated

    return check


def port_check(field: str, ranges: tuple[tuple[int, int], ...], negated: bool,
               protocols: frozenset[int] = PORT_PROTOCOLS) -> Check:
    def check(state: PacketState) -> bool | None:
        value = getattr(state, field)
        if value is None or state.proto not in protocols:
            if value is None and field in state.extra.get("nat_unknown", ()):
                return None  # a port the NAT core chose, not known
            return False  # no ports: the module does not match, negated or not
        inside = any(low <= value <= high for low, high in ranges)
        return inside != negated

    return check


def _always(value: bool) -> Check:
    return lambda state: value


def _proto_in(protocols: frozenset[int]) -> Check:
    return lambda state: state.proto in protocols


def _flags_are(mask: int, comp: int) -> Check:
    return lambda state: (state.tcp_flags & mask) == comp


def _state_in(wanted: int) -> Check:
    return lambda state: bool(_state_bits(state) & wanted)


# Status bits of the connection a packet belongs to, by its state: a first packet's entry is
# not yet confirmed, replied to or assured; an established one has seen a reply and is in the
# table; a related one came from an expectation. Whether it is ASSURED is not known.
_CT_STATUS = {"NEW": frozenset(), "ESTABLISHED": frozenset({"SEEN_REPLY", "CONFIRMED"}),
              "RELATED": frozenset({"EXPECTED"})}


def _ct_status_in(names: frozenset[str], legacy: bool) -> Check:
    """`--ctstatus`: any named bit set. NONE is an empty mask, which legacy xt_conntrack skips
    (always true) and iptables-nft turns into `ct status & 0 != 0` (never true)."""
    wanted = names - {"NONE"}
    none_result = legacy

    def check(state: PacketState) -> bool | None:
        if "NONE" in names and not wanted:
            return none_result
        bits = _CT_STATUS.get(state.ct_state, frozenset())
        if bits & wanted:
            return True
        if "ASSURED" in wanted and state.ct_state == "ESTABLISHED":
            return None
        return False

    return check


def _ct_port(field: str) -> Callable[[PacketState], int | None]:
    """A port of the conntrack tuple: ICMP keeps type<<8|code where ports are, and the echo id
    (not in a probe) where the source port is; protocols without ports keep 0."""
    reply = field.startswith("repl")
    source = field.endswith("src")

    def value(state: PacketState) -> int | None:
        if state.proto in PORT_PROTOCOLS:
            if reply:  # the reply tuple swaps ends and carries the translated destination
                return state.dport if source else state.sport
            return state.orig_sport if source else state.orig_dport
        if state.proto in (1, 58):
            if source or state.icmp_type is None:
                return None  # the echo id
            icmp_type = _ICMP_REPLY.get(state.icmp_type, state.icmp_type) if reply \
                else state.icmp_type
            return (icmp_type << 8) | (state.icmp_code or 0)
        return 0

    return value


_ICMP_REPLY = {8: 0, 13: 14, 15: 16, 17: 18, 128: 129}


def _ct_port_check(field: str, low: int, high: int, negated: bool) -> Check:
    value_of = _ct_port(field)

    def check(state: PacketState) -> bool | None:
        value = value_of(state)
        return None if value is None else (low <= value <= high) != negated

    return check


def _mark_is(field: str, value: int, mask: int) -> Check:
    return lambda state: (getattr(state, field) & mask) == value


def _ttl_cmp(op: Callable[[int, int], bool], value: int) -> Check:
    return lambda state: op(state.ttl, value)


# --- match modules -------------------------------------------------------------------------

Builder = Callable[[Match, int, "SetLookup | None"], list[CompiledCheck]]
MATCH_BUILDERS: dict[str, Builder] = {}


def _module(*names: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        for name in names:
            MATCH_BUILDERS[name] = builder
        return builder

    return register


def _describe(match: Match, opt: Option | None = None) -> str:
    """How a condition reads in an explanation: `-m recent --rcheck --name ssh`."""
    shown = match.options if opt is None else (opt,)
    return f"-m {match.module} " + " ".join(str(o) for o in shown)


_PROTO_OF_MODULE = {"tcp": 6, "udp": 17, "sctp": 132, "udplite": 136, "dccp": 33}


@_module("tcp", "udp", "sctp", "udplite", "dccp")
def _ports_module(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    proto = frozenset({_PROTO_OF_MODULE[match.module]})
    checks: list[CompiledCheck] = [CompiledCheck(_proto_in(proto), f"-m {match.module}")]
    for opt in match.options:
        name = opt.name
        if name in ("sport", "source-port", "dport", "destination-port"):
            field = "sport" if name in ("sport", "source-port") else "dport"
            ranges = (parse_port_range(opt.value),)
            checks.append(CompiledCheck(port_check(field, ranges, opt.negated, proto),
                                        opt, match))
        elif name in ("tcp-flags", "syn") and match.module == "tcp":
            if name == "syn":
                mask, comp = parse_tcp_flags("FIN,SYN,RST,ACK"), parse_tcp_flags("SYN")
            else:
                if len(opt.args) != 2:
                    raise ValueParseError("--tcp-flags takes a mask and a set of flags")
                mask, comp = parse_tcp_flags(opt.args[0]), parse_tcp_flags(opt.args[1])
            checks.append(CompiledCheck(
                _negate(_flags_are(mask, comp), opt.negated),
                opt, match))
        else:
            checks.append(_unknown(match, opt))
    return checks


@_module("multiport")
def _multiport(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    checks = []
    for opt in match.options:
        ranges = parse_port_list(opt.value)
        if opt.name in ("dports", "destination-ports", "dport"):
            check = port_check("dport", ranges, opt.negated)
        elif opt.name in ("sports", "source-ports", "sport"):
            check = port_check("sport", ranges, opt.negated)
        elif opt.name in ("ports", "port"):
            def check(state: PacketState, r: tuple[tuple[int, int], ...] = ranges,
                      neg: bool = opt.negated) -> bool | None:
                if state.proto not in PORT_PROTOCOLS:
                    return False
                ports = (state.sport, state.dport)
                unknown = state.extra.get("nat_unknown", ())
                if any(p is None and name not in unknown
                       for p, name in zip(ports, ("sport", "dport"), strict=True)):
                    return False  # a probe without ports
                if any(p is not None and lo <= p <= hi for p in ports for lo, hi in r):
                    return not neg
                return None if None in ports else neg  # None: a port the NAT core chose
        else:
            checks.append(_unknown(match, opt))
            continue
        checks.append(CompiledCheck(check, opt, match))
    return checks


@_module("icmp", "icmp6", "icmpv6", "ipv6-icmp")
def _icmp(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    proto = 1 if match.module == "icmp" else 58
    checks: list[CompiledCheck] = []
    for opt in match.options:
        if opt.name not in ("icmp-type", "icmpv6-type"):
            checks.append(_unknown(match, opt))
            continue
        icmp_type, low, high = parse_icmp_type(opt.value, 4 if proto == 1 else 6)

        def check(state: PacketState, t: int = icmp_type, lo: int = low, hi: int = high,
                  neg: bool = opt.negated) -> bool | None:
            if state.proto != proto or state.icmp_type is None:
                return False
            hit = t == -1 or (state.icmp_type == t and lo <= (state.icmp_code or 0) <= hi)
            return hit != neg

        checks.append(CompiledCheck(check, opt, match))
    if not checks:
        checks.append(CompiledCheck(lambda state: state.proto == proto, f"-m {match.module}"))
    return checks


_STATE_BITS = {"INVALID": 1, "ESTABLISHED": 2, "RELATED": 4, "NEW": 8, "UNTRACKED": 16,
               "SNAT": 32, "DNAT": 64}


def _state_bits(state: PacketState) -> int:
    """The conntrack state bits a packet has at this point (no connection before conntrack)."""
    if state.untracked:
        return _STATE_BITS["UNTRACKED"]
    if not state.ct_attached:
        return _STATE_BITS["INVALID"]
    bits = _STATE_BITS[state.ct_state]
    if state.dnat_done:
        bits |= _STATE_BITS["DNAT"]
    if state.snat_done:
        bits |= _STATE_BITS["SNAT"]
    return bits


def _parse_states(text: str) -> int:
    bits = 0
    for name in text.upper().split(","):
        if name not in _STATE_BITS:
            raise ValueParseError(f"unknown conntrack state {name!r}")
        bits |= _STATE_BITS[name]
    return bits


@_module("state")
def _state(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    checks = []
    for opt in match.options:
        if opt.name != "state":
            checks.append(_unknown(match, opt))
            continue
        wanted = _parse_states(opt.value)
        checks.append(CompiledCheck(
            _negate(_state_in(wanted), opt.negated),
            opt, match))
    return checks


def _conntrack(match: Match, family: int, sets: SetLookup | None,
               legacy: bool = False) -> list[CompiledCheck]:
    has_state = match.option("ctstate") is not None
    others: list[CompiledCheck] = []
    state_check: Check | None = None
    for opt in match.options:
        if opt.name == "ctstate":
            wanted = _parse_states(opt.value)
            state_check = _negate(_state_in(wanted), opt.negated)
        elif opt.name == "ctproto":
            others.append(CompiledCheck(protocol_check(opt.value, opt.negated),
                                        opt, match))
        elif opt.name in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
            field = {"ctorigsrc": "orig_src", "ctorigdst": "orig_dst",
                     "ctreplsrc": "dst", "ctrepldst": "src"}[opt.name]
            others.append(CompiledCheck(address_check(field, opt.value, opt.negated, family),
                                        opt, match))
        elif opt.name in ("ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport"):
            low, high = parse_port_range(opt.value)
            others.append(CompiledCheck(
                _ct_port_check(opt.name[2:-4], low, high, opt.negated), opt, match))
        elif opt.name == "ctdir":
            original = opt.value.upper() == "ORIGINAL"
            # Segscope evaluates packets in the direction that opened the connection.
            others.append(CompiledCheck(_negate(_always(original), opt.negated),
                                        opt, match))
        elif opt.name == "ctstatus":
            names = set(opt.value.upper().split(","))
            others.append(CompiledCheck(
                _negate(_ct_status_in(frozenset(names), legacy), opt.negated), opt, match))
        else:
            others.append(_unknown(match, opt))

    # The kernel answers only the state test for a packet without a connection (raw table,
    # untracked): if a state test is present it decides, otherwise the match fails.
    def check(state: PacketState) -> bool | None:
        if state_check is not None and not state_check(state):
            return False
        if not state.has_connection:
            return has_state
        result: bool | None = True
        for other in others:
            value = other.check(state)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    return [CompiledCheck(check, match)]


MATCH_BUILDERS["conntrack"] = _conntrack


@_module("comment")
def _comment(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    return []


@_module("mark", "connmark")
def _mark(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    field = "mark" if match.module == "mark" else "ctmark"
    checks = []
    for opt in match.options:
        if opt.name != "mark":
            checks.append(_unknown(match, opt))
            continue
        value, mask = parse_mark(opt.value)
        check = _negate(_mark_is(field, value, mask), opt.negated)
        if field == "ctmark":
            check = _with_connection(check)
        checks.append(CompiledCheck(check, opt, match))
    return checks


def _with_connection(check: Check) -> Check:
    """A connection-mark test fails, negated or not, on a packet without a connection."""
    return lambda state: check(state) if state.has_connection else False


@_module("iprange")
def _iprange(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    checks = []
    for opt in match.options:
        if opt.name not in ("src-range", "dst-range"):
            checks.append(_unknown(match, opt))
            continue
        low_text, _, high_text = opt.value.partition("-")
        fam_lo, low, _, _ = parse_cidr(low_text)
        fam_hi, high, _, _ = parse_cidr(high_text or low_text)
        if fam_lo != family or fam_hi != family:
            raise ValueParseError(f"range {opt.value} is not IPv{family}")
        field = "src" if opt.name == "src-range" else "dst"

        def check(state: PacketState, f: str = field, lo: int = low, hi: int = high,
                  neg: bool = opt.negated) -> bool | None:
            value = getattr(state, f)
            return None if value is None else (lo <= value <= hi) != neg

        checks.append(CompiledCheck(check, opt, match))
    return checks


_MULTICAST = {4: parse_cidr("224.0.0.0/4"), 6: parse_cidr("ff00::/8")}


def address_type(state: PacketState, field: str) -> str | None:
    """LOCAL, UNICAST, MULTICAST or BROADCAST as the host's routing table would say."""
    value = getattr(state, field)
    if value is None:
        return None
    _, net, mask, _ = _MULTICAST[state.family]
    if value & mask == net:
        return "MULTICAST"
    if state.family == 4 and value == 0xFFFFFFFF:
        return "BROADCAST"
    if (state.family == 4 and value >> 24 == 127) or (state.family == 6 and value == 1):
        return "LOCAL"
    if state.local_addresses is not None:
        return "LOCAL" if value in state.local_addresses else "UNICAST"
    # Without the host's addresses, the hook tells: INPUT delivers to a local destination,
    # OUTPUT sends from a local source, and a forwarded packet has neither.
    if field == "dst":
        return "LOCAL" if state.hook == "INPUT" else "UNICAST"
    return "LOCAL" if state.hook == "OUTPUT" else "UNICAST"


@_module("addrtype")
def _addrtype(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    checks = []
    for opt in match.options:
        if opt.name not in ("src-type", "dst-type"):
            if opt.name not in ("limit-iface-in", "limit-iface-out"):
                checks.append(_unknown(match, opt))
            continue
        field = "src" if opt.name == "src-type" else "dst"
        wanted = frozenset(opt.value.upper().split(","))

        def check(state: PacketState, f: str = field, w: frozenset[str] = wanted,
                  neg: bool = opt.negated) -> bool | None:
            kind = address_type(state, f)
            if kind is None:
                return None
            # The kernel gives a local address the type LOCAL only, never UNICAST as well.
            return (kind in w) != neg

        checks.append(CompiledCheck(check, opt, match))
    return checks


@_module("pkttype")
def _pkttype(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    opt = match.option("pkt-type")
    if opt is None:
        return [_unknown(match)]
    wanted = opt.value.lower()

    def check(state: PacketState) -> bool | None:
        kind = address_type(state, "dst")
        if kind is None:
            return None
        kind = {"LOCAL": "host", "UNICAST": "host"}.get(kind, kind.lower())
        return ((kind == "host" and wanted == "unicast") or kind == wanted) != opt.negated

    return [CompiledCheck(check, opt, match)]


@_module("hl", "ttl")
def _ttl(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    ops: dict[str, Callable[[int, int], bool]] = {
        "eq": lambda a, b: a == b, "lt": lambda a, b: a < b, "gt": lambda a, b: a > b}
    checks = []
    for opt in match.options:
        op = opt.name.rsplit("-", 1)[-1]
        if op not in ops or not opt.value.isdigit():
            checks.append(_unknown(match, opt))
            continue
        # iptables-save prints `! --ttl-eq` for --ttl-ne and `--hl-eq` for hop limits alike.
        checks.append(CompiledCheck(
            _negate(_ttl_cmp(ops[op], int(opt.value)), opt.negated),
            opt, match))
    return checks


def _length_range(text: str) -> tuple[int, int]:
    """`--length` as iptables-save prints it (`64` or `64:1500`; `:max` and `min:` accepted),
    not swapped: a range whose minimum exceeds its maximum matches no packet."""
    low_text, sep, high_text = text.partition(":")
    try:
        low = int(low_text) if low_text else 0
        high = (int(high_text) if high_text else 65535) if sep else low
    except ValueError:
        raise ValueParseError(f"bad length {text!r}") from None
    if not (0 <= low <= 65535 and 0 <= high <= 65535):
        raise ValueParseError(f"length {text!r} is out of range")
    return low, high


@_module("length")
def _length(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    # xt_length compares the IPv4 total length, or the IPv6 payload length plus its 40-byte
    # header: both are a probe's `length`. Without it the match cannot be known.
    checks = []
    for opt in match.options:
        if opt.name != "length":
            checks.append(_unknown(match, opt))
            continue
        low, high = _length_range(opt.value)

        def check(state: PacketState, lo: int = low, hi: int = high,
                  neg: bool = opt.negated) -> bool | None:
            if state.length is None:
                return None
            return (lo <= state.length <= hi) != neg

        checks.append(CompiledCheck(check, opt, match))
    return checks


@_module("policy")
def _policy(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    # Packets Segscope evaluates are not IPsec-protected: `--pol none` holds, `--pol ipsec` not.
    opt = match.option("pol")
    if opt is None or any(o.name not in ("pol", "dir", "strict") for o in match.options):
        return [_unknown(match)]
    none = opt.value == "none"
    return [CompiledCheck(_negate(_always(none), opt.negated), opt, match)]


@_module("mac")
def _mac(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    opt = match.option("mac-source")
    if opt is None or len(match.options) != 1:
        return [_unknown(match)]
    wanted = opt.value.lower()

    def check(state: PacketState) -> bool | None:
        if state.src_mac is None:
            return None
        return (state.src_mac.lower() == wanted) != opt.negated

    return [CompiledCheck(check, opt, match)]


@_module("rt", "frag", "hbh", "dst", "ah", "esp", "mh", "ipv6header")
def _absent_header(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    # Headers Segscope's packets never carry: the module needs the header, so it cannot match.
    if match.module == "ipv6header":
        return [_unknown(match)]
    return [CompiledCheck(lambda state: False, match)]


@_module("set")
def _set(match: Match, family: int, sets: SetLookup | None) -> list[CompiledCheck]:
    checks = []
    return_nomatch = match.option("return-nomatch") is not None
    for opt in match.options:
        if opt.name in ("match-set", "set"):
            if len(opt.args) != 2:
                raise ValueParseError("--match-set takes a set name and src/dst flags")
            name, flags = opt.args[0], tuple(opt.args[1].split(","))
            if any(f not in ("src", "dst") for f in flags):
                raise ValueParseError(f"bad set flags {opt.args[1]!r}")
            checks.append(CompiledCheck(
                _set_check(name, flags, opt.negated, return_nomatch, sets), opt, match))
        elif opt.name in ("return-nomatch", "update-counters", "update-subcounters"):
            continue
        else:
            checks.append(_unknown(match, opt))
    return checks


def _set_check(name: str, flags: tuple[str, ...], negated: bool, return_nomatch: bool,
               sets: SetLookup | None) -> Check:
    if sets is None or sets.dimensions(name) is None:
        return lambda state: None  # the set's content is not known
    lookup = sets.lookup

    def check(state: PacketState) -> bool | None:
        # One side of the packet per flag; each set type (list:set members too) takes the
        # fields it needs from it.
        found = lookup(name, [_endpoint(state, flag) for flag in flags], return_nomatch)
        return None if found is None else found != negated

    return check


def _endpoint(state: PacketState, flag: str) -> Endpoint:
    src = flag == "src"
    if state.hook == "OUTPUT" and state.extra.get("at") == "OUTPUT":
        mac: str | None = NO_MAC  # a locally generated packet has no MAC header yet
    else:
        mac = state.src_mac if src else None
    return Endpoint(address=(state.family, state.src if src else state.dst),
                    port=(state.proto, _port_value(state, flag)), mac=mac,
                    iface=interface_at(state, "in" if src else "out"), mark=state.mark)


def interface_at(state: PacketState, side: str) -> str | None:
    """The packet's in or out interface where it is now: "" where the hook has none (no out
    interface before routing or on INPUT, no in interface for a local packet), None if the
    probe did not say."""
    at = state.extra.get("at")
    if side == "out":
        return "" if at in ("PREROUTING", "INPUT") else state.out_iface
    return "" if state.hook == "OUTPUT" else state.in_iface


def _port_value(state: PacketState, flag: str) -> int | None:
    if state.proto in (1, 58):
        if state.icmp_type is None:
            return None
        return (state.icmp_type << 8) | (state.icmp_code or 0)
    return state.sport if flag == "src" else state.dport


def _unknown(match: Match, opt: Option | None = None) -> CompiledCheck:
    return CompiledCheck(lambda state: None, opt if opt is not None else match, match)


def compile_match(match: Match, family: int, sets: SetLookup | None,
                  legacy: bool = False) -> list[CompiledCheck]:
    """Checks for one `-m` module; modules Segscope does not model answer None (depends on).
    `legacy` is for dumps of the x_tables backend, where a few matches read differently."""
    if match.module == "conntrack":
        return _conntrack(match, family, sets, legacy)
    builder = MATCH_BUILDERS.get(match.module)
    if builder is None:
        return [_unknown(match)]
    return builder(match, family, sets)


def is_modelled(match: Match) -> bool:
    return match.module in MATCH_BUILDERS

