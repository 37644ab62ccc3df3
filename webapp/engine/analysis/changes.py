"""A proposed change to a fleet, as `segscope whatif --change FILE` reads it: one command per
line, each naming the host it runs on (or `intent:` and a new intent version).

    node-03: iptables -I seg-in-califc1d8994 1 -s 10.1.0.3/32 -p tcp -m tcp --dport 6379 -j ACCEPT
    node-03: ipset add seg-web 10.1.0.3
    node-02: nft insert rule inet filter forward position 7 ip saddr 10.1.0.3 tcp dport 80 accept
    intent: intent-v3.yaml

Parsing checks each line's grammar; whether a chain, rule, set or handle exists is checked when
the change is applied to the hosts' dumps (rewrite.py)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

IPTABLES_COMMANDS = {"iptables": 4, "ip6tables": 6, "iptables-nft": 4, "ip6tables-nft": 6,
                     "iptables-legacy": 4, "ip6tables-legacy": 6}
_OPERATIONS = {"-I": "insert", "--insert": "insert", "-A": "append", "--append": "append",
               "-D": "delete", "--delete": "delete", "-R": "replace", "--replace": "replace"}
TABLES = ("filter", "nat", "mangle", "raw", "security")


class ChangeError(ValueError):
    """A change line that cannot be read or applied: `FILE:LINE: reason`."""

    def __init__(self, filename: str, line: int, reason: str) -> None:
        super().__init__(f"{filename}:{line}: {reason}")
        self.filename = filename
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IptablesChange:
    """`iptables [-t TABLE] -I|-A|-D|-R CHAIN [N] [RULE...]` on one host."""

    host: str
    family: int
    table: str
    operation: str  # insert, append, delete, replace
    chain: str
    number: int | None
    rule: tuple[str, ...]
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class NftChange:
    """`nft insert|add rule FAMILY TABLE CHAIN [position N] STATEMENTS` or `nft delete rule
    FAMILY TABLE CHAIN handle N` on one host."""

    host: str
    operation: str  # insert, add, delete
    family: str
    table: str
    chain: str
    handle: int | None
    statements: tuple[str, ...]
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class IpsetChange:
    """`ipset add|del SET MEMBER` on one host."""

    host: str
    operation: str  # add, del
    set_name: str
    member: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class IntentChange:
    """A new intent version, read from a file named next to the change file."""

    name: str
    text: str
    line: int


HostChange = IptablesChange | NftChange | IpsetChange


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Every line of a change file, in order; `intent` is the last intent line's version."""

    filename: str
    host_changes: tuple[HostChange, ...] = ()
    intent: IntentChange | None = None
    hosts: tuple[str, ...] = field(default=())

    def on(self, host: str) -> list[HostChange]:
        return [c for c in self.host_changes if c.host == host]


def parse_changes(text: str, filename: str = "<change>",
                  files: Mapping[str, str] | None = None) -> ChangeSet:
    """Read a change file; `files` gives the text of the intent files it names (by the name
    written after `intent:`). Raises ChangeError at the first malformed line."""
    changes: list[HostChange] = []
    intent: IntentChange | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        host, sep, command = line.partition(":")
        host, command = host.strip(), command.strip()
        if not sep or not host or " " in host:
            raise ChangeError(filename, number,
                              "expected 'HOST: COMMAND' or 'intent: FILE.yaml'")
        if not command:
            raise ChangeError(filename, number, "no command after the host")
        if host == "intent":
            name = command
            found = (files or {}).get(name)
            if found is None:
                raise ChangeError(filename, number, f"intent file {name!r} not found")
            intent = IntentChange(name, found, number)
            continue
        try:
            tokens = shlex.split(command)
        except ValueError as exc:
            raise ChangeError(filename, number, f"cannot split the command: {exc}") from None
        program = tokens[0]
        if program in IPTABLES_COMMANDS:
            changes.append(_iptables(host, tokens, filename, number, command))
        elif program == "nft":
            changes.append(_nft(host, tokens, filename, number, command))
        elif program == "ipset":
            changes.append(_ipset(host, tokens, filename, number, command))
        else:
            raise ChangeError(filename, number,
                              f"unknown command {program!r}: iptables, ip6tables, nft or ipset")
    hosts = tuple(dict.fromkeys(c.host for c in changes))
    return ChangeSet(filename, tuple(changes), intent, hosts)


def _iptables(host: str, tokens: list[str], filename: str, number: int,
              text: str) -> IptablesChange:
    family = IPTABLES_COMMANDS[tokens[0]]
    table = "filter"
    rest: list[str] = []
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if token in ("-t", "--table"):
            if i + 1 >= len(tokens):
                raise ChangeError(filename, number, "-t needs a table name")
            table = tokens[i + 1]
            i += 2
            continue
        if token in ("-w", "--wait") and not rest:
            i += 1
            continue
        rest.append(token)
        i += 1
    if table not in TABLES:
        raise ChangeError(filename, number, f"unknown table {table!r}")
    if not rest or rest[0] not in _OPERATIONS:
        raise ChangeError(filename, number,
                          "expected -I, -A, -D or -R (only rule changes can be evaluated)")
    operation = _OPERATIONS[rest[0]]
    if len(rest) < 2:
        raise ChangeError(filename, number, f"{rest[0]} needs a chain")
    chain = rest[1]
    args = rest[2:]
    position: int | None = None
    if args and args[0].isdigit():
        position = int(args[0])
        args = args[1:]
        if position < 1:
            raise ChangeError(filename, number, "rule numbers count from 1")
    if operation == "append" and position is not None:
        raise ChangeError(filename, number, "-A takes no rule number")
    if operation == "replace" and position is None:
        raise ChangeError(filename, number, "-R needs a rule number")
    if operation == "delete":
        if position is None and not args:
            raise ChangeError(filename, number, "-D needs a rule number or a rule")
        if position is not None and args:
            raise ChangeError(filename, number, "-D takes a rule number or a rule, not both")
    elif not args:
        raise ChangeError(filename, number, f"{rest[0]} needs a rule")
    if args and not any(a in ("-j", "--jump", "-g", "--goto") for a in args) \
            and operation != "delete":
        raise ChangeError(filename, number, "the rule has no target (-j)")
    return IptablesChange(host, family, table, operation, chain, position, tuple(args),
                          number, text)


def _nft(host: str, tokens: list[str], filename: str, number: int, text: str) -> NftChange:
    words = tokens[1:]
    if len(words) < 2 or words[0] not in ("insert", "add", "delete") or words[1] != "rule":
        raise ChangeError(filename, number,
                          "expected nft insert|add|delete rule FAMILY TABLE CHAIN ...")
    operation = words[0]
    if len(words) < 5:
        raise ChangeError(filename, number, "name the family, table and chain")
    family, table, chain = words[2], words[3], words[4]
    if family not in ("ip", "ip6", "inet", "bridge", "netdev", "arp"):
        raise ChangeError(filename, number, f"unknown nft family {family!r}")
    rest = words[5:]
    handle: int | None = None
    if rest and rest[0] in ("position", "handle"):
        if len(rest) < 2 or not rest[1].isdigit():
            raise ChangeError(filename, number, f"{rest[0]} needs a rule handle")
        handle = int(rest[1])
        rest = rest[2:]
    if operation == "delete":
        if handle is None or rest:
            raise ChangeError(filename, number, "nft delete rule needs exactly 'handle N'")
    elif not rest:
        raise ChangeError(filename, number, "the rule has no statements")
    return NftChange(host, operation, family, table, chain, handle, tuple(rest), number, text)


def _ipset(host: str, tokens: list[str], filename: str, number: int, text: str) -> IpsetChange:
    words = [t for t in tokens[1:] if t not in ("-exist", "-!")]
    if len(words) < 3 or words[0] not in ("add", "del", "-A", "-D"):
        raise ChangeError(filename, number, "expected ipset add|del SET MEMBER")
    operation = "add" if words[0] in ("add", "-A") else "del"
    if len(words) > 3 and operation == "del":
        raise ChangeError(filename, number, "ipset del takes a set and one member")
    return IpsetChange(host, operation, words[1], " ".join(words[2:]), number, text)
