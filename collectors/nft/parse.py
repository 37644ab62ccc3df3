"""Parser for `nft -j list ruleset` output (the libnftables JSON schema, libnftables-json(5))."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from collectors.errors import ParseError, ParseWarning
from collectors.nft.model import (
    FAMILIES,
    NftChain,
    NftObject,
    NftRule,
    NftRuleset,
    NftSet,
    NftTable,
    Unmodelled,
)
from collectors.nft.render import render_expression, render_rule
from collectors.nft.schema import (
    as_list,
    as_strings,
    compact,
    priority_value,
    walk_expression,
    walk_statement,
)

OBJECT_KINDS = frozenset({"counter", "quota", "limit", "ct helper", "ct timeout",
                          "ct expectation", "secmark", "synproxy", "flowtable", "tunnel"})
# Command objects (`nft -j -f` input) whose content is a ruleset element, added in order.
_ADDING_COMMANDS = frozenset({"add", "create", "insert"})


class _Builder:
    """Mutable collection of one dump's elements, frozen into an NftRuleset at the end."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.tables: dict[tuple[str, str], dict[str, Any]] = {}
        self.warnings: list[ParseWarning] = []
        self.unmodelled: list[Unmodelled] = []
        self.version: str | None = None
        self.schema_version: int | None = None
        self.line = 1

    def warn(self, message: str) -> None:
        self.warnings.append(ParseWarning(self.filename, self.line, message))

    def report(self, path: str, kind: str, value: Any) -> None:
        item = Unmodelled(self.filename, self.line, path, kind, compact(value))
        self.unmodelled.append(item)
        self.warn(f"{path}: not modelled ({kind}): {item.text}")

    def table(self, family: Any, name: Any, create: bool = True) -> dict[str, Any] | None:
        key = (str(family), str(name))
        if key not in self.tables:
            if not create:
                return None
            if family not in FAMILIES:
                self.warn(f"table {family} {name}: unknown family {family!r}")
            self.tables[key] = {"handle": None, "flags": (), "chains": {}, "sets": {},
                                "objects": {}, "comment": None}
        return self.tables[key]


def parse_nft_json(text: str, filename: str = "<input>") -> NftRuleset:
    """Read `nft -j list ruleset` output; malformed JSON raises ParseError, anything unknown
    inside is kept verbatim and reported (warnings, `unmodelled`), never fatal."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(filename, exc.lineno, exc.colno, exc.msg) from None
    except RecursionError:
        raise ParseError(filename, 1, 1, "JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise ParseError(filename, 1, 1, 'not an nft JSON dump: no top-level "nftables" array')
    items: list[Any] = data["nftables"]
    lines = _item_lines(text, len(items))
    builder = _Builder(filename)
    for index, item in enumerate(items):
        builder.line = lines[index]
        _add_item(builder, item, f"nftables[{index}]")
    return _freeze(builder)


def _add_item(b: _Builder, item: Any, path: str) -> None:
    if not isinstance(item, dict) or len(item) != 1:
        b.report(path, "malformed element", item)
        return
    kind, body = next(iter(item.items()))
    if kind in _ADDING_COMMANDS and isinstance(body, dict) and len(body) == 1:
        inner_kind, inner = next(iter(body.items()))
        _add_element(b, inner_kind, inner, f"{path}.{kind}", insert=kind == "insert")
        return
    _add_element(b, kind, body, path)


def _add_element(b: _Builder, kind: str, body: Any, path: str, insert: bool = False) -> None:
    if kind == "metainfo":
        if isinstance(body, dict):
            b.version = body.get("version")
            b.schema_version = body.get("json_schema_version")
        return
    if not isinstance(body, dict):
        b.report(path, f"element {kind}", {kind: body})
        return
    if kind == "table":
        table = b.table(body.get("family"), body.get("name"))
        assert table is not None
        table["handle"] = body.get("handle")
        table["flags"] = tuple(as_strings(body.get("flags")))
        table["comment"] = body.get("comment")
    elif kind == "chain":
        _add_chain(b, body, path)
    elif kind == "rule":
        _add_rule(b, body, path, insert)
    elif kind in ("set", "map"):
        _add_set(b, kind, body, path)
    elif kind == "element":
        _add_elements(b, body, path)
    elif kind in OBJECT_KINDS:
        table = b.table(body.get("family"), body.get("table"))
        assert table is not None
        name = str(body.get("name"))
        data = {k: v for k, v in body.items() if k not in ("family", "table", "name", "handle")}
        table["objects"][(kind, name)] = NftObject(kind, str(body.get("family")),
                                                   str(body.get("table")), name,
                                                   body.get("handle"), data)
    else:
        b.report(path, f"element {kind}", {kind: body})


def _add_chain(b: _Builder, body: dict[str, Any], path: str) -> None:
    family, table_name = str(body.get("family")), str(body.get("table"))
    table = b.table(family, table_name)
    assert table is not None
    name = str(body.get("name"))
    chain = table["chains"].setdefault(name, {"rules": []})
    chain.update(handle=body.get("handle"), type=body.get("type"), hook=body.get("hook"),
                 policy=body.get("policy"), comment=body.get("comment"),
                 devices=tuple(as_strings(body.get("dev"))))
    if body.get("hook") is not None:
        priority = priority_value(family, body.get("prio", 0))
        if priority is None:
            b.warn(f"{path}: chain {family} {table_name} {name}: unreadable priority "
                   f"{body.get('prio')!r}, taken as 0")
            priority = 0
        chain["priority"] = priority


def _add_rule(b: _Builder, body: dict[str, Any], path: str, insert: bool) -> None:
    family, table_name, chain_name = (str(body.get("family")), str(body.get("table")),
                                      str(body.get("chain")))
    table = b.table(family, table_name)
    assert table is not None
    if chain_name not in table["chains"]:
        b.warn(f"{path}: rule for undeclared chain {family} {table_name} {chain_name}; "
               "kept as a regular chain")
        table["chains"][chain_name] = {"rules": [], "handle": None}
    expr = body.get("expr")
    if not isinstance(expr, list):
        b.report(f"{path}.rule.expr", "rule without statement list", expr)
        expr = []
    for i, stmt in enumerate(expr):
        walk_statement(stmt, f"{path}.rule.expr[{i}]", b.report)
    entry = (body.get("handle"), tuple(expr), body.get("comment"), path, b.line)
    rules = table["chains"][chain_name]["rules"]
    if insert:
        rules.insert(0, entry)
    else:
        rules.append(entry)


def _add_set(b: _Builder, kind: str, body: dict[str, Any], path: str) -> None:
    family, table_name = str(body.get("family")), str(body.get("table"))
    table = b.table(family, table_name)
    assert table is not None
    name = str(body.get("name"))
    key_types = _types(body.get("type"))
    if not key_types and "typeof" in body:
        key_types = (f"typeof {render_expression(body['typeof'])}",)
    data_type: tuple[str, ...] | None = None
    if kind == "map":
        data_type = _types(body.get("map")) or ("unknown",)
    elements = tuple(as_list(body.get("elem")))
    for i, elem in enumerate(elements):
        walk_expression(elem, f"{path}.{kind}.elem[{i}]", b.report)
    previous = table["sets"].get(name)
    if previous is not None:
        elements = previous.elements + elements
    table["sets"][name] = NftSet(family, table_name, name, body.get("handle"), key_types,
                                 data_type, tuple(as_strings(body.get("flags"))), elements,
                                 body.get("timeout"), body.get("comment"), path)


def _add_elements(b: _Builder, body: dict[str, Any], path: str) -> None:
    table = b.table(body.get("family"), body.get("table"), create=False)
    name = str(body.get("name"))
    if table is None or name not in table["sets"]:
        b.warn(f"{path}: elements for undeclared set {body.get('family')} "
               f"{body.get('table')} {name}: ignored")
        return
    added = tuple(as_list(body.get("elem")))
    for i, elem in enumerate(added):
        walk_expression(elem, f"{path}.element.elem[{i}]", b.report)
    old: NftSet = table["sets"][name]
    table["sets"][name] = replace(old, elements=old.elements + added)


def _freeze(b: _Builder) -> NftRuleset:
    tables: dict[tuple[str, str], NftTable] = {}
    for (family, name), t in b.tables.items():
        chains: dict[str, NftChain] = {}
        for chain_name, c in t["chains"].items():
            rules = tuple(
                NftRule(family, name, chain_name, position, handle, expr,
                        render_rule(expr) + (f' comment "{comment}"' if comment else ""),
                        comment, rule_path, line)
                for position, (handle, expr, comment, rule_path, line)
                in enumerate(c["rules"], start=1))
            chains[chain_name] = NftChain(
                family, name, chain_name, c.get("handle"), c.get("type"), c.get("hook"),
                c.get("priority"), c.get("policy"), c.get("devices", ()), rules,
                c.get("comment"))
        tables[(family, name)] = NftTable(family, name, t["handle"], t["flags"], chains,
                                          dict(t["sets"]), dict(t["objects"]), t["comment"])
    return NftRuleset(b.filename, tables, b.version, b.schema_version, tuple(b.warnings),
                      tuple(b.unmodelled))


def _types(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()





_ARRAY_START = re.compile(r'"nftables"\s*:\s*\[')


def _item_lines(text: str, count: int) -> list[int]:
    """The line each top-level element starts on (all 1 for nft's usual one-line output)."""
    fallback = [1] * count
    found = _ARRAY_START.search(text)
    if "\n" not in text or found is None:
        return fallback
    decoder = json.JSONDecoder()
    lines: list[int] = []
    pos, line, counted = found.end(), 1, 0
    try:
        while len(lines) < count:
            while text[pos] in " \t\r\n,":
                pos += 1
            line += text.count("\n", counted, pos)
            counted = pos
            lines.append(line)
            _, pos = decoder.raw_decode(text, pos)
    except (ValueError, IndexError):
        return fallback
    return lines
