"""Parser for `iptables-save` / `ip6tables-save` output (with or without `-c` counters)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from collectors.errors import ParseError, ParseWarning

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}

# Long spellings of the generic options, mapped to the names rules are stored under.
_BASE_OPTIONS = {
    "-s": "source", "--source": "source", "--src": "source",
    "-d": "destination", "--destination": "destination", "--dst": "destination",
    "-i": "in-interface", "--in-interface": "in-interface",
    "-o": "out-interface", "--out-interface": "out-interface",
    "-p": "protocol", "--protocol": "protocol",
    "-f": "fragment", "--fragment": "fragment",
}
_SHORT_BASE = {"s": "source", "d": "destination", "i": "in-interface", "o": "out-interface",
               "p": "protocol"}
_TABLE_NAME = re.compile(r"[a-z_]+")
_IMPLICIT_MODULES = {"tcp", "udp", "icmp", "icmpv6", "ipv6-icmp", "sctp", "udplite"}


# Option, Match and Rule are NamedTuples rather than frozen dataclasses: a dump has hundreds of
# thousands of them and tuple construction is several times cheaper; they are just as immutable.
class Option(NamedTuple):
    """One option of a match or target: `! --dport 80` is Option('dport', ('80',), True)."""

    name: str
    args: tuple[str, ...] = ()
    negated: bool = False

    @property
    def value(self) -> str:
        return " ".join(self.args)

    def __str__(self) -> str:
        neg = "! " if self.negated else ""
        return f"{neg}--{self.name} {self.value}".rstrip()


class Match(NamedTuple):
    """One `-m module` with its options (modules loaded implicitly by `-p tcp` included)."""

    module: str
    options: tuple[Option, ...] = ()

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None


class RuleSpec(NamedTuple):
    """What a rule line says once decoded: generic matches, match modules and target."""

    base: tuple[Option, ...] = ()
    matches: tuple[Match, ...] = ()
    target: str | None = None
    goto: bool = False
    target_options: tuple[Option, ...] = ()


class Rule(NamedTuple):
    """One `-A` line; its options are decoded on first use (see `spec`) and checked by `check`."""

    table: str
    chain: str
    number: int
    line: int
    text: str
    packets: int | None = None
    bytes: int | None = None
    filename: str = "<input>"

    @property
    def spec(self) -> RuleSpec:
        return decode_rule(self)

    @property
    def base(self) -> tuple[Option, ...]:
        return decode_rule(self).base

    @property
    def matches(self) -> tuple[Match, ...]:
        return decode_rule(self).matches

    @property
    def target(self) -> str | None:
        return decode_rule(self).target

    @property
    def goto(self) -> bool:
        return decode_rule(self).goto

    @property
    def target_options(self) -> tuple[Option, ...]:
        return decode_rule(self).target_options

    def base_option(self, name: str) -> Option | None:
        for opt in self.base:
            if opt.name == name:
                return opt
        return None

    def target_option(self, name: str) -> Option | None:
        for opt in self.target_options:
            if opt.name == name:
                return opt
        return None


@dataclass(frozen=True, slots=True)
class Chain:
    """A built-in chain (with policy) or a user chain (policy None) and its rules in order."""

    name: str
    policy: str | None
    line: int
    rules: tuple[Rule, ...] = ()
    packets: int | None = None
    bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """One `*table` block up to its COMMIT."""

    name: str
    line: int
    chains: dict[str, Chain] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Everything one iptables-save dump holds, plus what the parser did not understand."""

    filename: str
    tables: dict[str, Table]
    warnings: tuple[ParseWarning, ...] = ()
    generator: str | None = None  # "iptables-save v1.8.9 (nf_tables)", from the header

    @property
    def legacy(self) -> bool:
        """Written by the legacy (x_tables) backend rather than iptables-nft."""
        gen = self.generator or ""
        if "(legacy)" in gen:
            return True
        if "(nf_tables)" in gen:
            return False
        version = re.search(r"v(\d+)\.(\d+)", gen)
        return version is not None and (int(version[1]), int(version[2])) < (1, 8)

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for t in self.tables.values() for c in t.chains.values())

    @property
    def chain_count(self) -> int:
        return sum(len(t.chains) for t in self.tables.values())

    def rules(self) -> Iterator[Rule]:
        for table in self.tables.values():
            for chain in table.chains.values():
                yield from chain.rules

    def check(self) -> Ruleset:
        """Decode every rule now, so that a bad option fails here with file, line and column."""
        for rule in self.rules():
            decode_rule(rule)
        return self


def _tokenize(text: str) -> tuple[list[str], list[bool], list[int]]:
    """Split like iptables-restore: double quotes group, backslash escapes; returns columns too."""
    tokens: list[str] = []
    quoted: list[bool] = []
    columns: list[int] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        buf: list[str] = []
        was_quoted = False
        in_quotes = False
        while i < n and (in_quotes or text[i] not in " \t"):
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_quotes = not in_quotes
                was_quoted = True
                i += 1
                continue
            buf.append(ch)
            i += 1
        if in_quotes:
            raise ValueError(f"{start + 1}:unterminated quote")
        tokens.append("".join(buf))
        quoted.append(was_quoted)
        columns.append(start + 1)
    return tokens, quoted, columns


# One option as grouped from a rule line: (spelling, args, negated, token index for errors).
_Group = tuple[str, tuple[str, ...], bool, int]


def _group_tokens(tokens: list[str], quoted: list[bool]) -> list[_Group]:
    """Group tokens into options with their arguments; handles `! --x` and old `--x ! v`."""

    def is_option(k: int) -> bool:
        tok = tokens[k]
        return len(tok) > 1 and tok[0] == "-" and not quoted[k] and not tok[1].isdigit()

    groups: list[_Group] = []
    negate = False
    i, n = 0, len(tokens)
    while i < n:
        if tokens[i] == "!" and not quoted[i]:
            negate = True
            i += 1
            continue
        if not is_option(i):
            raise _RuleError(i, f"unexpected argument {tokens[i]!r}")
        j = i + 1
        if j < n and tokens[j] == "!" and not quoted[j]:
            negate, j = True, j + 1  # old iptables wrote `--dport ! 80`
        k = j
        while k < n and not is_option(k) and not (tokens[k] == "!" and not quoted[k]):
            k += 1
        groups.append((tokens[i], tuple(tokens[j:k]), negate, i))
        negate = False
        i = k
    if negate:
        raise _RuleError(n - 1, "'!' not followed by an option")
    return groups


# What one ` -x args` segment of an unquoted rule line says: a long option (an Option), a generic
# option (an Option under its stored name), -m (a module name), -j/-g (a target), or False when
# only the careful path can tell. Segments repeat across a table (`m tcp`, `-dport 5432`,
# `j ACCEPT`), so each is read once and its value shared.
_OPTION, _BASE, _MODULE, _JUMP, _GOTO = range(5)
_Segment = tuple[int, Any] | bool
_SEGMENTS: dict[str, _Segment] = {}
_SEGMENTS_MAX = 1 << 18


def _read_segment(seg: str) -> _Segment:
    parts = seg.split()
    if not parts or parts[-1] == "!" or "!" in parts[1:] or seg[0].isdigit():
        return False  # negation, or an argument that starts with '-'
    name = parts[0]
    args = tuple(parts[1:])
    if name[0] == "-":
        return _OPTION, Option(name[1:], args)
    if len(name) != 1 or len(args) != 1:
        return False
    if name == "m":
        return _MODULE, args[0]
    if name == "j":
        return _JUMP, args[0]
    if name == "g":
        return _GOTO, args[0]
    if name in _SHORT_BASE:
        return _BASE, Option(_SHORT_BASE[name], args)
    return False


def _assemble_fast(body: str) -> tuple[str, tuple[Option, ...], tuple[Match, ...], str | None,
                                       bool, tuple[Option, ...], tuple[int, int] | None] | None:
    """The common case in one pass: an unquoted line split at ' -'; None means 'use _assemble'."""
    segments = body.split(" -")
    head = segments[0].split()
    if len(head) != 2 or head[0] != "-A":
        return None
    chain = head[1]
    base: list[Option] = []
    matches: list[Match] = []
    target: str | None = None
    goto = False
    target_options: list[Option] = []
    module: str | None = None
    module_options: list[Option] = []
    in_target = False
    known = _SEGMENTS
    for seg in segments[1:]:
        read = known.get(seg)
        if read is None:
            read = _read_segment(seg)
            if len(known) < _SEGMENTS_MAX:
                known[seg] = read
        if read is False:
            return None
        kind, value = read  # type: ignore[misc]  # not False here
        if kind == _OPTION:
            if in_target:
                target_options.append(value)
            elif module is not None:
                module_options.append(value)
            else:
                return None
        elif kind == _BASE:
            base.append(value)
        elif kind == _MODULE:
            if module is not None:
                matches.append(Match(module, tuple(module_options)))
            module, module_options, in_target = value, [], False
        elif target is None:
            target, goto, in_target = value, kind == _GOTO, True
        else:
            return None
    if module is not None:
        matches.append(Match(module, tuple(module_options)))
    return chain, tuple(base), tuple(matches), target, goto, tuple(target_options), None


class _RuleError(ValueError):
    """A rule line that cannot be understood; `token` is the index used to find the column."""

    def __init__(self, token: int, reason: str) -> None:
        super().__init__(reason)
        self.token = token
        self.reason = reason


def _assemble(groups: list[_Group]) -> tuple[str, tuple[Option, ...], tuple[Match, ...],
                                            str | None, bool, tuple[Option, ...],
                                            tuple[int, int] | None]:
    """Sort grouped options into chain, generic matches, match modules and target."""
    if not groups or groups[0][0] not in ("-A", "--append", "-I", "--insert") \
            or len(groups[0][1]) != 1:
        raise _RuleError(0, "expected a rule (-A CHAIN ...), a chain (:NAME), COMMIT or a comment")
    chain = groups[0][1][0]
    base: list[Option] = []
    matches: list[Match] = []
    target: str | None = None
    goto = False
    target_options: list[Option] = []
    counters: tuple[int, int] | None = None
    module: str | None = None
    module_options: list[Option] = []
    in_target = False
    for tok, args, negate, index in groups[1:]:
        name = _BASE_OPTIONS.get(tok)
        if name is not None:
            if name != "fragment" and len(args) > 1:
                raise _RuleError(index + 2, f"unexpected argument {args[1]!r}")
            if name != "fragment" and len(args) != 1:
                raise _RuleError(index, f"{tok} takes one argument")
            base.append(Option(name, args, negate))
        elif tok in ("-m", "--match"):
            if len(args) != 1 or negate:
                raise _RuleError(index, "-m takes one module name")
            if module is not None:
                matches.append(Match(module, tuple(module_options)))
            module, module_options, in_target = args[0], [], False
        elif tok in ("-j", "--jump", "-g", "--goto"):
            if len(args) > 1:
                raise _RuleError(index + 2, f"unexpected argument {args[1]!r}")
            if len(args) != 1 or negate:
                raise _RuleError(index, f"{tok} takes one target")
            if target is not None:
                raise _RuleError(index, "a rule has only one target")
            target, goto, in_target = args[0], tok in ("-g", "--goto"), True
        elif tok in ("-c", "--set-counters"):
            try:
                counters = (int(args[0]), int(args[1]))
            except (ValueError, IndexError):
                raise _RuleError(index, "-c takes two counters") from None
        elif tok[:2] == "--":
            opt = Option(tok[2:], args, negate)
            if in_target:
                target_options.append(opt)
            elif module is not None:
                module_options.append(opt)
            else:
                proto = next((o.args[0] for o in base if o.name == "protocol"), "").lower()
                if proto not in _IMPLICIT_MODULES:
                    raise _RuleError(index, f"option {tok} needs a match module (-m) first")
                module, module_options = proto, [opt]
        else:
            raise _RuleError(index, f"unknown option {tok}")
    if module is not None:
        matches.append(Match(module, tuple(module_options)))
    return chain, tuple(base), tuple(matches), target, goto, tuple(target_options), counters


def parse_iptables_save(text: str, filename: str = "<input>", *,
                        remember_rules: bool = False) -> Ruleset:
    """Parse a whole dump; stray text outside tables becomes a warning, bad rules a ParseError.
    remember_rules: keep each rule text's shape for the next dump that holds it (ingest, where
    hosts send the same rules snapshot after snapshot); a one-off parse is faster without."""
    remembered = _remembered_rule_chain if remember_rules else None
    tables: dict[str, Table] = {}
    warnings: list[ParseWarning] = []
    table_name: str | None = None
    table_line = 0
    chains: dict[str, dict[str, object]] = {}
    rules: dict[str, list[Rule]] = {}
    preamble_reported = False
    declared: set[str] = set()

    def finish_table() -> None:
        assert table_name is not None
        built = {
            name: Chain(name, meta["policy"], meta["line"], tuple(rules[name]),  # type: ignore[arg-type]
                        meta["packets"], meta["bytes"])  # type: ignore[arg-type]
            for name, meta in chains.items()
        }
        tables[table_name] = Table(table_name, table_line, built)

    generator: str | None = None
    # Only newlines end a line, as for iptables-restore: a comment may hold \x1c or U+2028.
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] == "#":
            if generator is None and line.startswith("# Generated by "):
                generator = line[len("# Generated by "):].split(" on ", 1)[0]
            continue
        if table_name is None:
            if line[0] == "*" and _TABLE_NAME.fullmatch(line[1:]):
                table_name, table_line = line[1:], lineno
                if table_name in tables:
                    # iptables-restore flushes a table it meets again: the later block wins.
                    warnings.append(ParseWarning(
                        filename, lineno, f"table {table_name} appears again; this block replaces "
                        f"the one at line {tables[table_name].line}"))
                chains = {name: {"policy": "ACCEPT", "line": lineno, "packets": None, "bytes": None}
                          for name in BUILTIN_CHAINS.get(table_name, ())}
                rules = {name: [] for name in chains}
                declared = set()
                if table_name not in BUILTIN_CHAINS:
                    warnings.append(ParseWarning(filename, lineno, f"unknown table {table_name}"))
                preamble_reported = False
            elif not preamble_reported:
                warnings.append(ParseWarning(filename, lineno, "text outside any table ignored"))
                preamble_reported = True
            continue
        if line == "COMMIT":
            finish_table()
            table_name = None
            continue
        if line[0] == ":":
            parts = line[1:].split()
            if len(parts) < 2:
                raise ParseError(filename, lineno, 1, "chain line needs a name and a policy")
            name, policy = parts[0], parts[1]
            if name in declared:
                raise ParseError(filename, lineno, 2, f"chain {name} declared twice")
            declared.add(name)
            packets = nbytes = None
            if len(parts) > 2:
                counter = parts[2]
                try:
                    p, b = counter.strip("[]").split(":")
                    packets, nbytes = int(p), int(b)
                except ValueError:
                    col = raw.find(counter) + 1
                    raise ParseError(filename, lineno, col, f"bad counters {counter}") from None
            is_builtin = name in BUILTIN_CHAINS.get(table_name, ())
            if policy == "-":
                if is_builtin:
                    raise ParseError(filename, lineno, 2, f"built-in chain {name} needs a policy")
                policy_value = None
            elif policy in ("ACCEPT", "DROP"):
                policy_value = policy
            else:
                col = raw.find(policy) + 1
                raise ParseError(filename, lineno, col, f"bad chain policy {policy}")
            chains[name] = {"policy": policy_value, "line": lineno, "packets": packets,
                            "bytes": nbytes}
            rules[name] = []
            continue
        rule = _parse_rule_line(raw, line, lineno, filename, table_name, chains, rules,
                                remembered)
        rules[rule.chain].append(rule)
    if table_name is not None:
        raise ParseError(filename, table_line, 1, f"table {table_name} has no COMMIT")
    return Ruleset(filename, tables, tuple(warnings), generator)


_ARG = r'(?:"(?:[^"\\]|\\.)*"|[^\s"!\-][^\s"]*|-\d[^\s"]*)'
_OPT = r"(?:-[sdiopfmjgc]|--[A-Za-z0-9][\w.-]*)"
# The shape of a rule body after `-A CHAIN`; checked in C so that the structural pass stays cheap.
_BODY = rf"(?:[ \t]+(?:![ \t]+)?{_OPT}(?:[ \t]+(?:![ \t]+)?{_ARG})*)*[ \t]*"
# A whole `-A CHAIN ...` line (after any [p:b] counters); group 1 is the chain.
_RULE = re.compile(rf"-A[ \t]+([^\s\"]+){_BODY}")


def _parse_rule_line(raw: str, line: str, lineno: int, filename: str, table: str,
                     chains: dict[str, dict[str, object]], rules: dict[str, list[Rule]],
                     remembered: Callable[[str], str | None] | None) -> Rule:
    packets = nbytes = None
    body = line
    if line[0] == "[":
        end = line.find("]")
        try:
            p, b = line[1:end].split(":")
            packets, nbytes = int(p), int(b)
        except ValueError:
            col = len(raw) - len(raw.lstrip()) + 1
            raise ParseError(filename, lineno, col, "bad counters before rule") from None
        body = line[end + 1:].lstrip()
    if remembered is not None:
        chain = remembered(body)
    else:  # inline: a call per rule costs a one-off parse a tenth of its speed
        shape = _RULE.fullmatch(body)
        chain = None if shape is None or " -c " in body or "--set-counters" in body else shape[1]
    if chain is None:
        # Unusual or broken: decode it fully now to report the exact place or read `-c` counters.
        spec, counters = _decode(body, filename, lineno, raw.find(body))
        if counters is not None:
            packets, nbytes = counters
        chain = body.split()[1]
    if chain not in chains:
        col = raw.find(chain, raw.find("-A")) + 1
        raise ParseError(filename, lineno, col, f"chain {chain} is not declared in table {table}")
    return Rule(table, chain, len(rules[chain]) + 1, lineno, line, packets, nbytes, filename)


def _usual_rule_chain(body: str) -> str | None:
    """The chain of a well-formed rule body without `-c` counters, else None."""
    shape = _RULE.fullmatch(body)
    if shape is None or " -c " in body or "--set-counters" in body:
        return None
    return shape[1]


# The shape check is most of a rule's parsing time; ingest remembers it by text, like decoding.
_remembered_rule_chain = functools.lru_cache(maxsize=1 << 16)(_usual_rule_chain)


def clear_caches() -> None:
    """Forget every rule text seen so far (benchmarks measure parsing cold with it)."""
    _remembered_rule_chain.cache_clear()
    _decode_cached.cache_clear()
    _SEGMENTS.clear()


def decode_rule(rule: Rule) -> RuleSpec:
    """The rule's options as values; raises ParseError naming the rule's file, line and column."""
    body = rule.text
    if body[0] == "[":
        body = body[body.find("]") + 1:].lstrip()
    try:
        return _decode_cached(body)
    except _DecodeError as exc:
        raise ParseError(rule.filename, rule.line, exc.column + rule.text.find(body), exc.reason) \
            from None


class _DecodeError(ValueError):
    def __init__(self, column: int, reason: str) -> None:
        super().__init__(reason)
        self.column, self.reason = column, reason


@functools.lru_cache(maxsize=1 << 16)
def _decode_cached(body: str) -> RuleSpec:
    # Fleets repeat the same rule text across hosts; the cache decodes each text once.
    return _decode_body(body)[0]


def _decode(body: str, filename: str, lineno: int, offset: int
            ) -> tuple[RuleSpec, tuple[int, int] | None]:
    try:
        return _decode_body(body)
    except _DecodeError as exc:
        raise ParseError(filename, lineno, offset + exc.column, exc.reason) from None


def _decode_body(body: str) -> tuple[RuleSpec, tuple[int, int] | None]:
    columns: list[int] | None = None
    try:
        parts = None if ('"' in body or "\\" in body or "!" in body) else _assemble_fast(body)
        if parts is None:
            tokens, quoted, columns = _tokenize(body)
            parts = _assemble(_group_tokens(tokens, quoted))
    except _RuleError as exc:
        if columns is None:
            _, _, columns = _tokenize(body)
        col = columns[min(exc.token, len(columns) - 1)] if columns else 1
        raise _DecodeError(col, exc.reason) from None
    except ValueError as exc:  # unterminated quote, reported by the tokenizer as 'col:reason'
        col_text, reason = str(exc).split(":", 1)
        raise _DecodeError(int(col_text), reason) from None
    _chain, base, matches, target, goto, target_options, counters = parts
    return RuleSpec(base, matches, target, goto, target_options), counters
