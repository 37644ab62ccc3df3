"""Reading `ipset save`/restore input and `ipset list` output, line by line."""

from __future__ import annotations

from types import MappingProxyType
from typing import TypeAlias

from collectors.errors import ParseWarning
from collectors.ipset.elements import (
    ElementReader,
    SetBuilder,
    strtoul,
)
from collectors.ipset.names import (
    COMMANDS,
    CREATE_FLAGS,
    CREATE_VALUED,
    GLOBAL_FLAGS,
    IGNORED_OLD_OPTIONS,
    INET_ONLY,
    LIST_KEYS,
    MEMBER_FLAGS,
    MEMBER_VALUED,
    NO_FAMILY,
    SET_TYPES,
    TYPE_ALIASES,
)
from collectors.ipset.values import (
    AddressRange,
    IpSetDump,
    IpsetParseError,
    SetMember,
)


def parse_ipset_save(text: str, filename: str = "<input>") -> IpSetDump:
    """Parse `ipset save` / restore input or `ipset list` output (detected) into an IpSetDump."""
    return _Parser(filename).parse(text)


def detect_format(text: str) -> str:
    """The dump's format: `list` if it opens with `Name: ...`, `xml` for `-o xml`, else `save`."""
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("name:"):
            return "list"
        return "xml" if line.startswith("<") else "save"
    return "save"




Tokens: TypeAlias = list[tuple[str, int]]



def _tokenize(line: str, filename: str, lineno: int) -> Tokens:
    """Split on blanks; a double-quoted word is one token without its quotes (no escapes)."""
    tokens: Tokens = []
    if '"' not in line:
        at = 0
        for word in line.split():
            at = line.index(word, at)
            tokens.append((word, at + 1))
            at += len(word)
        return tokens
    i, n = 0, len(line)
    while i < n:
        if line[i] in " \t\r\f\v":
            i += 1
            continue
        start = i
        if line[i] == '"':
            end = line.find('"', i + 1)
            if end < 0:
                raise IpsetParseError(filename, lineno, start + 1, "unterminated quoted string")
            tokens.append((line[i + 1:end], start + 1))
            i = end + 1
            continue
        while i < n and line[i] not in " \t\r\f\v":
            i += 1
        tokens.append((line[start:i], start + 1))
    return tokens



class _Parser(ElementReader):
    """Reads one dump; holds the sets by name and the warnings met so far."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.sets: dict[str, SetBuilder] = {}
        self.warnings: list[ParseWarning] = []
        self._warned: set[tuple[str, str]] = set()

    # -- reporting ---------------------------------------------------------------------------
    def error(self, line: int, column: int, reason: str) -> IpsetParseError:
        return IpsetParseError(self.filename, line, column, reason)

    def warn(self, line: int, message: str, once_per: str | None = None) -> None:
        """Record a warning; with `once_per`, only its first occurrence in that scope."""
        if once_per is not None:
            key = (once_per, message)
            if key in self._warned:
                return
            self._warned.add(key)
            message += " (reported once per set)"
        self.warnings.append(ParseWarning(self.filename, line, message))

    # -- driver ------------------------------------------------------------------------------
    def parse(self, text: str) -> IpSetDump:
        fmt = detect_format(text)
        if fmt == "xml":
            raise self.error(1, 1, "ipset XML output (-o xml) is not supported; use ipset save")
        # Only newlines end a line, as for `ipset restore`: a comment may hold \x1c or U+2028.
        lines = text.split("\n")
        if fmt == "list":
            self._parse_list(lines)
        else:
            for lineno, raw in enumerate(lines, 1):
                self._save_line(raw, lineno)
        self._check_list_references()
        sets = {name: builder.freeze() for name, builder in self.sets.items()}
        return IpSetDump(MappingProxyType(sets), tuple(self.warnings), self.filename, fmt)

    def _check_list_references(self) -> None:
        for builder in self.sets.values():
            if builder.set_type != "list:set":
                continue
            for member in builder.members:
                target = self.sets.get(str(member.values[0]))
                if target is None:
                    self.warn(member.line, f"list:set {builder.name!r} names set "
                              f"{member.values[0]!r}, which is not in this dump")
                elif target.set_type == "list:set":
                    self.warn(member.line, f"list:set {builder.name!r} contains list:set "
                              f"{target.name!r}; the kernel refuses this and never matches it")

    # -- restore syntax ----------------------------------------------------------------------
    def _save_line(self, raw: str, lineno: int) -> None:
        tokens = _tokenize(raw, self.filename, lineno)
        # `-exist` and friends may stand before or right after the command, or at the end.
        while tokens and tokens[0][0] in GLOBAL_FLAGS:
            tokens.pop(0)
        while len(tokens) > 1 and tokens[1][0] in GLOBAL_FLAGS:
            tokens.pop(1)
        while tokens and tokens[-1][0] in GLOBAL_FLAGS:
            tokens.pop()
        if not tokens or tokens[0][0].startswith("#"):
            return
        word, col = tokens[0]
        command = COMMANDS.get(word) or COMMANDS.get(word.lower())
        if command is None:
            raise self.error(lineno, col, f"unknown ipset command {word!r}")
        args = tokens[1:]
        if command == "commit":
            return
        if command == "create":
            self._create(args, lineno, col)
        elif command in ("add", "del", "test"):
            self._add_del(command, args, lineno, col)
        elif command in ("flush", "destroy"):
            self._flush_destroy(command, args, lineno)
        else:
            self._rename_swap(command, args, lineno, col)

    def _need(self, args: Tokens, count: int, lineno: int, col: int, what: str) -> None:
        if len(args) < count:
            end = args[-1][1] + len(args[-1][0]) if args else col
            raise self.error(lineno, end, f"missing {what}")

    def _lookup(self, name: str, lineno: int, col: int) -> SetBuilder:
        builder = self.sets.get(name)
        if builder is None:
            raise self.error(lineno, col, f"set {name!r} is not defined")
        return builder

    def _create(self, args: Tokens, lineno: int, col: int) -> None:
        self._need(args, 2, lineno, col, "set name and type after create")
        (name, _), (type_text, type_col) = args[0], args[1]
        builder = SetBuilder(name, self._set_type(type_text, lineno, type_col), lineno)
        self._apply_create_options(builder, args[2:], lineno)
        old = self.sets.get(name)
        if old is not None:
            self.warn(lineno, f"set {name!r} is created again (first at line {old.line}); "
                      "the first definition and its members are kept, as `restore -exist` does")
            return
        self.sets[name] = builder

    def _set_type(self, text: str, lineno: int, col: int) -> str:
        key = text.lower()
        if key in SET_TYPES:
            return key
        if key in TYPE_ALIASES:
            if key.startswith("iptree"):
                self.warn(lineno, f"set type {text!r} was removed from ipset; read as hash:ip")
            return TYPE_ALIASES[key]
        raise self.error(lineno, col, f"unknown set type {text!r}")

    def _add_del(self, command: str, args: Tokens, lineno: int, col: int) -> None:
        self._need(args, 2, lineno, col, f"set name and element after {command}")
        builder = self._lookup(args[0][0], lineno, args[0][1])
        member, position = self._member(builder, args[1:], lineno)
        if command == "test":
            self.warn(lineno, "`test` in a restore file changes nothing; ignored")
        elif command == "add":
            self._insert(builder, member, position, lineno)
        else:
            kept = [m for m in builder.members if m.values != member.values]
            if len(kept) == len(builder.members):
                self.warn(lineno, f"del of {args[1][0]!r}, which is not in set {builder.name!r}")
            builder.members = kept

    def _insert(self, builder: SetBuilder, member: SetMember,
                position: tuple[str, str, int] | None, lineno: int) -> None:
        if position is None:
            builder.members.append(member)
            return
        where, ref, _ = position
        names = [m.values[0] for m in builder.members]
        if ref not in names:
            self.warn(lineno, f"{where} {ref!r}: no such member in {builder.name!r}; appended")
            builder.members.append(member)
            return
        index = names.index(ref) + (1 if where == "after" else 0)
        builder.members.insert(index, member)

    def _flush_destroy(self, command: str, args: Tokens, lineno: int) -> None:
        targets = [self._lookup(a[0], lineno, a[1]) for a in args[:1]] or list(self.sets.values())
        for builder in targets:
            if command == "flush":
                builder.members = []
            else:
                del self.sets[builder.name]

    def _rename_swap(self, command: str, args: Tokens, lineno: int, col: int) -> None:
        self._need(args, 2, lineno, col, f"two set names after {command}")
        first = self._lookup(args[0][0], lineno, args[0][1])
        if command == "rename":
            new_name, new_col = args[1]
            if new_name in self.sets:
                raise self.error(lineno, new_col, f"cannot rename to {new_name!r}: it exists")
            first.name = new_name
            self.sets = {(new_name if k == args[0][0] else k): v for k, v in self.sets.items()}
            return
        second = self._lookup(args[1][0], lineno, args[1][1])
        first.name, second.name = second.name, first.name
        self.sets[first.name], self.sets[second.name] = first, second

    # -- ipset list output -------------------------------------------------------------------
    def _parse_list(self, lines: list[str]) -> None:
        block: SetBuilder | None = None
        pending: dict[str, tuple[str, int]] = {}
        in_members = in_bindings = False
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                in_members = in_members and bool(line)
                continue
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if in_members and key != "name" and key != "bindings":
                assert block is not None
                tokens = _tokenize(raw, self.filename, lineno)
                member, position = self._member(block, tokens, lineno)
                self._insert(block, member, position, lineno)
                continue
            if in_bindings and key != "name":
                self.warn(lineno, "ipset 4 binding ignored")
                continue
            if not sep or key not in LIST_KEYS:
                raise self.error(lineno, 1, f"expected a `Name:`/`Type:`/... line, got {line!r}")
            value = value.strip()
            in_members = in_bindings = False
            if key == "name":
                block, pending = None, {"name": (value, lineno)}
            elif key == "type":
                if "name" not in pending:
                    raise self.error(lineno, 1, "`Type:` line before any `Name:` line")
                name, name_line = pending["name"]
                col = raw.index(":") + 2
                block = SetBuilder(name, self._set_type(value, lineno, col), name_line)
                block.infer_family = block.set_type not in NO_FAMILY | INET_ONLY
                self._register_listed(block, name_line)
            elif block is None:
                raise self.error(lineno, 1, f"`{key}` line before the set's `Type:` line")
            elif key == "header":
                offset = raw.index(":") + 1
                tokens = [(t, c + offset) for t, c in _tokenize(raw[offset:], self.filename,
                                                                  lineno)]
                tokens = [(t.rstrip(":"), c) for t, c in tokens]
                self._apply_create_options(block, tokens, lineno)
            elif key == "revision":
                block.revision = strtoul(value)
            elif key == "members":
                in_members = True
            elif key == "bindings":
                in_bindings = True

    def _register_listed(self, block: SetBuilder, lineno: int) -> None:
        old = self.sets.get(block.name)
        if old is not None:
            self.warn(lineno, f"set {block.name!r} is listed again (first at line {old.line}); "
                      "the later listing replaces the earlier one")
            del self.sets[block.name]
        self.sets[block.name] = block

    # -- create options ----------------------------------------------------------------------
    def _apply_create_options(self, builder: SetBuilder, tokens: Tokens, lineno: int) -> None:
        pairs: list[tuple[str, str | None, int]] = []
        i = 0
        while i < len(tokens):
            raw, col = tokens[i]
            key = raw.lstrip("-").lower()
            if key in CREATE_FLAGS:
                pairs.append((key, None, col))
                i += 1
            elif key in CREATE_VALUED:
                if i + 1 >= len(tokens):
                    raise self.error(lineno, col, f"option {key!r} needs a value")
                pairs.append((key, tokens[i + 1][0], tokens[i + 1][1]))
                i += 2
            else:
                value = None
                if i + 1 < len(tokens) and not self._is_option_word(tokens[i + 1][0]):
                    value = tokens[i + 1][0]
                    i += 1
                i += 1
                self.warn(lineno, f"unknown create option {raw!r}"
                          + (f" with value {value!r}" if value is not None else "") + "; kept")
                builder.options[raw] = value if value is not None else True
        for key, value, col in pairs:
            if key == "family":
                builder.family = self._family(builder, value or "", lineno, col)
                builder.infer_family = False
        old_from = old_to = None
        for key, value, col in pairs:
            if value is None:
                builder.options[key] = True
            elif key in IGNORED_OLD_OPTIONS:
                self.warn(lineno, f"ipset 4 option {key!r} is ignored by ipset")
            elif key == "from":
                old_from = (value, col)
            elif key == "to":
                old_to = (value, col)
            elif key != "family":
                key = "range" if key == "network" else key
                builder.options[key] = self._create_value(builder, key, value, col, lineno)
        if builder.family is not None:
            builder.options["family"] = builder.family
        if old_from and old_to:
            text = f"{old_from[0]}-{old_to[0]}"
            builder.options["range"] = self._create_value(builder, "range", text, old_from[1],
                                                          lineno)
        elif old_from or old_to:
            self.warn(lineno, "ipset 4 option --from without --to (or the reverse); ignored")

    @staticmethod
    def _is_option_word(word: str) -> bool:
        key = word.lstrip("-").lower()
        return key in CREATE_FLAGS or key in CREATE_VALUED

    def _family(self, builder: SetBuilder, value: str, lineno: int, col: int) -> str:
        family = {"inet": "inet", "ipv4": "inet", "inet6": "inet6", "ipv6": "inet6"}.get(
            value.lower())
        if family is None:
            raise self.error(lineno, col, f"unknown family {value!r}")
        if builder.set_type in NO_FAMILY:
            self.warn(lineno, f"family has no meaning for {builder.set_type}; ignored")
            return builder.family or family
        if builder.set_type in INET_ONLY and family != "inet":
            raise self.error(lineno, col, f"{builder.set_type} supports family inet only")
        return family

    def _create_value(self, builder: SetBuilder, key: str, value: str, col: int,
                      lineno: int) -> object:
        if key == "range":
            if builder.set_type == "bitmap:port":
                port = self._port(value, col, lineno, builder, bitmap=True)
                return (port.first, port.last)
            first, last = self._span(builder, value, col, lineno)
            return AddressRange(first, last)
        if key == "bitmask":
            return self._address(builder, value, col, lineno)
        number = strtoul(value)
        if number is None:
            self.warn(lineno, f"option {key!r} has value {value!r}, which is not a number; "
                      "kept as text", once_per=builder.name)
            return value
        limit = 128 if builder.family == "inet6" else 32
        if key == "netmask" and not 1 <= number <= limit:
            raise self.error(lineno, col, f"netmask {number} is out of range 1-{limit}")
        return number

    # -- members -----------------------------------------------------------------------------
    def _member(self, builder: SetBuilder, tokens: Tokens,
                lineno: int) -> tuple[SetMember, tuple[str, str, int] | None]:
        text, col = tokens[0]
        values = self._element(builder, text, col, lineno)
        if len(tokens) == 1:
            return SetMember(values, line=lineno), None
        fields: dict[str, object] = {}
        extra: list[tuple[str, str | None]] = []
        position: tuple[str, str, int] | None = None
        i = 1
        while i < len(tokens):
            word, wcol = tokens[i]
            key = word.lower()
            if key in MEMBER_FLAGS:
                if key == "nomatch" and "net" not in SET_TYPES[builder.set_type]:
                    self.warn(lineno, f"nomatch has no effect in {builder.set_type} sets "
                              "(ipset refuses it); ignored")
                else:
                    fields[key] = True
                i += 1
                continue
            if key not in MEMBER_VALUED:
                value = None
                if i + 1 < len(tokens) and tokens[i + 1][0].lower() not in (
                        MEMBER_FLAGS | MEMBER_VALUED):
                    value = tokens[i + 1][0]
                    i += 1
                i += 1
                self.warn(lineno, f"unknown element option {word!r}"
                          + (f" with value {value!r}" if value is not None else "") + "; kept")
                extra.append((word, value))
                continue
            if i + 1 >= len(tokens):
                raise self.error(lineno, wcol, f"element option {key!r} needs a value")
            value, vcol = tokens[i + 1]
            i += 2
            if key in ("before", "after"):
                position = (key, value, vcol)
            elif key == "comment":
                fields["comment"] = value
            elif key == "skbmark":
                fields["skbmark"] = self._skbmark(value, vcol, lineno)
            elif key == "skbprio":
                fields["skbprio"] = self._skbprio(value, vcol, lineno)
            else:
                number = strtoul(value) if key != "timeout" or value.isdigit() else None
                if number is None:
                    self.warn(lineno, f"element option {key!r} has value {value!r}, which is "
                              "not a number; ignored", once_per=builder.name)
                else:
                    fields[key] = number
        if position is not None and builder.set_type != "list:set":
            raise self.error(lineno, position[2], "before/after apply to list:set only")
        if extra:
            fields["extra"] = tuple(extra)
        member = SetMember(values, line=lineno, **fields)
        return member, position

