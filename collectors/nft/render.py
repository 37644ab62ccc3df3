"""nft JSON statements written back in nft's own rule syntax, for traces and reports."""

from __future__ import annotations

from typing import Any

from collectors.nft.schema import as_strings, compact

_BARE_META = frozenset({"iifname", "oifname", "iif", "oif", "iiftype", "oiftype", "skuid",
                        "skgid", "cpu", "iifgroup", "oifgroup", "cgroup", "rtclassid",
                        "ibrname", "obrname"})
_QUOTED_META = frozenset({"iifname", "oifname", "iif", "oif", "ibrname", "obrname", "sdifname",
                          "iifkind", "oifkind"})
_BINOPS = ("&", "|", "^", "<<", ">>")


def render_rule(statements: tuple[Any, ...] | list[Any]) -> str:
    """`ip saddr 10.0.0.0/8 tcp dport { 22, 80 } counter accept` for a rule's statements."""
    return " ".join(render_statement(stmt) for stmt in statements)


def render_statement(stmt: Any) -> str:
    """One statement in nft syntax; anything unknown is shown as its JSON."""
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return compact(stmt)
    kind, body = next(iter(stmt.items()))
    try:
        text = _statement(kind, body)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        text = None
    return compact(stmt) if text is None else text


def _statement(kind: str, body: Any) -> str | None:
    if kind == "match":
        quoted = _is_name_lookup(body["left"])
        left = body["left"]
        if isinstance(left, dict) and isinstance(left.get("concat"), list):
            # Constants in a left-hand concatenation are names: `ip saddr . "lo" @s`.
            left_text = " . ".join(render_expression(p, isinstance(p, str))
                                   for p in left["concat"])
        else:
            left_text = render_expression(left)
        right = render_expression(body["right"], quoted)
        op = body["op"]
        implicit = op == "in" or (op == "==" and not _is_binop(body["left"]))
        return f"{left_text} {right}" if implicit else f"{left_text} {op} {right}"
    if kind in ("accept", "drop", "continue", "return", "jump", "goto"):
        return render_expression({kind: body})
    if kind == "counter":
        if isinstance(body, str):
            return f'counter name "{body}"'
        if isinstance(body, dict) and "packets" in body:
            return f"counter packets {body['packets']} bytes {body['bytes']}"
        if isinstance(body, dict) and "map" in body:
            return f"counter name {render_expression({'map': body['map']}, True)}"
        return "counter"
    if kind == "mangle":
        return f"{render_expression(body['key'])} set {render_expression(body['value'])}"
    if kind == "vmap":
        return f"{render_expression(body['key'])} vmap {render_expression(body['data'])}"
    if kind in ("snat", "dnat", "masquerade", "redirect"):
        return _nat(kind, body)
    if kind == "reject":
        return _reject(body)
    if kind == "log":
        return _log(body)
    if kind == "limit":
        return _limit(body)
    if kind == "quota":
        if isinstance(body, str):
            return f'quota name "{body}"'
        over = "over " if body.get("inv") else ""
        return f"quota {over}{body.get('val')} {body.get('val_unit', 'bytes')}"
    if kind in ("set", "map") and isinstance(body, dict) and "op" in body:
        elem = render_expression(body["elem"])
        if kind == "map":
            elem = f"{elem} : {render_expression(body['data'])}"
        stmts = " ".join(render_statement(s) for s in body.get("stmt", []) or [])
        return f"{body['op']} {body[kind]} {{ {elem}{' ' + stmts if stmts else ''} }}"
    if kind == "queue":
        num = body.get("num") if isinstance(body, dict) else None
        flags = body.get("flags") if isinstance(body, dict) else None
        flag_text = " " + ",".join(as_strings(flags)) if flags else ""
        return f"queue num {render_expression(num) if num is not None else 0}{flag_text}"
    if kind in ("notrack", "flow", "xt", "ct helper", "ct timeout", "ct expectation",
                "secmark", "synproxy", "ct count", "last"):
        return _misc(kind, body)
    return None


def _misc(kind: str, body: Any) -> str | None:
    if kind == "notrack":
        return "notrack"
    if kind == "flow":
        return f"flow {body.get('op', 'add')} {body.get('flowtable')}"
    if kind == "xt":
        return f"xt {body.get('type')} {body.get('name')}"
    if kind == "ct count":
        return f"ct count {'over ' if body.get('inv') else ''}{body.get('val')}"
    if kind == "last":
        return "last"
    if isinstance(body, str):
        return f'{kind} set "{body}"'
    return f"{kind} {compact(body)}"


def _nat(kind: str, body: Any) -> str:
    if not body:
        return kind
    family = f" {body['family']}" if body.get("family") else ""
    addr = render_expression(body["addr"]) if "addr" in body else ""
    port = render_expression(body["port"]) if "port" in body else ""
    target = addr + (f":{port}" if port else "")
    flags = " " + ",".join(as_strings(body["flags"])) if body.get("flags") else ""
    if kind in ("masquerade", "redirect"):
        return f"{kind}{' to ' + target if target else ''}{flags}"
    return f"{kind}{family} to {target}{flags}"


def _reject(body: Any) -> str:
    if not body:
        return "reject"
    kind = body.get("type")
    if kind == "tcp reset":
        return "reject with tcp reset"
    if "expr" in body:
        return f"reject with {kind or 'icmpx'} {render_expression(body['expr'])}"
    return f"reject with {kind}" if kind else "reject"


def _log(body: Any) -> str:
    if not body:
        return "log"
    parts = ["log"]
    if "prefix" in body:
        parts.append(f'prefix "{body["prefix"]}"')
    for name in ("level", "group", "snaplen", "queue-threshold"):
        if name in body:
            parts.append(f"{name} {body[name]}")
    if body.get("flags"):
        parts.append("flags " + ",".join(as_strings(body["flags"])))
    return " ".join(parts)


def _limit(body: Any) -> str:
    if isinstance(body, str):
        return f'limit name "{body}"'
    if "map" in body:
        return f"limit name {render_expression({'map': body['map']}, True)}"
    over = "over " if body.get("inv") else ""
    unit = body.get("rate_unit", "packets")
    rate = f"{body.get('rate')}{'' if unit == 'packets' else ' ' + unit}/{body.get('per')}"
    burst = f" burst {body['burst']} {unit}" \
        if body.get("burst") else ""
    return f"limit rate {over}{rate}{burst}"


def _is_binop(expr: Any) -> bool:
    return isinstance(expr, dict) and len(expr) == 1 and next(iter(expr)) in _BINOPS


def _is_name_lookup(left: Any) -> bool:
    return isinstance(left, dict) and "meta" in left and \
        isinstance(left["meta"], dict) and left["meta"].get("key") in _QUOTED_META


def render_expression(expr: Any, quoted: bool = False) -> str:
    """One expression in nft syntax (`quoted` puts interface names in double quotes)."""
    if isinstance(expr, bool):
        return "exists" if expr else "missing"
    if isinstance(expr, str):
        return f'"{expr}"' if quoted and not expr.startswith("@") else expr
    if isinstance(expr, (int, float)):
        return str(expr)
    if isinstance(expr, list):
        return ",".join(render_expression(e, quoted) for e in expr)
    if not isinstance(expr, dict) or len(expr) != 1:
        return compact(expr)
    kind, body = next(iter(expr.items()))
    try:
        text = _expression(kind, body, quoted)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        text = None
    return compact(expr) if text is None else text


def _expression(kind: str, body: Any, quoted: bool) -> str | None:
    if kind in _BINOPS:
        right = body[1]
        right_text = ("(" + " | ".join(render_expression(r) for r in right) + ")"
                      if isinstance(right, list) else render_expression(right))
        return f"{render_expression(body[0])} {kind} {right_text}"
    if kind == "concat":
        return " . ".join(render_expression(e, quoted) for e in body)
    if kind == "set":
        items = body if isinstance(body, list) else [body]
        return "{ " + ", ".join(_element(e, quoted) for e in items) + " }"
    if kind == "map":
        return f"{render_expression(body['key'])} map {render_expression(body['data'], quoted)}"
    if kind == "prefix":
        return f"{render_expression(body['addr'])}/{body['len']}"
    if kind == "range":
        return f"{render_expression(body[0], quoted)}-{render_expression(body[1], quoted)}"
    if kind == "elem":
        text = render_expression(body["val"], quoted)
        return text + (f" timeout {body['timeout']}s" if "timeout" in body else "")
    if kind in ("accept", "drop", "continue", "return"):
        return kind
    if kind in ("jump", "goto"):
        return f"{kind} {body['target']}"
    return _selector(kind, body)


def _selector(kind: str, body: dict[str, Any]) -> str | None:
    if kind == "payload":
        if "base" in body:
            return f"@{body['base']},{body['offset']},{body['len']}"
        tunnel = f"{body['tunnel']} " if "tunnel" in body else ""
        return f"{tunnel}{body['protocol']} {body['field']}"
    if kind == "meta":
        key = body["key"]
        return key if key in _BARE_META else f"meta {key}"
    if kind == "ct":
        parts = ["ct", body.get("dir"), body.get("family"), body["key"]]
        return " ".join(p for p in parts if p)
    if kind == "fib":
        return f"fib {' . '.join(as_strings(body.get('flags')))} {body['result']}"
    if kind in ("exthdr", "tcp option", "ip option", "sctp chunk", "dccp option"):
        prefix = "" if kind == "exthdr" else f"{kind} "
        field = body.get("field", "")
        return f"{prefix}{body.get('name', body.get('type', ''))} {field}".rstrip()
    if kind == "numgen":
        return f"numgen {body.get('mode')} mod {body.get('mod')}"
    if kind == "jhash":
        return f"jhash {render_expression(body.get('expr'))} mod {body.get('mod')}"
    if kind == "symhash":
        return f"symhash mod {body.get('mod')}"
    if kind in ("socket", "osf"):
        return f"{kind} {body.get('key')}"
    if kind == "rt":
        return " ".join(p for p in ("rt", body.get("family"), body.get("key")) if p)
    if kind == "ipsec":
        return " ".join(str(p) for p in ("ipsec", body.get("dir"), body.get("family"),
                                         body.get("key")) if p)
    return None


def _element(elem: Any, quoted: bool) -> str:
    if isinstance(elem, list) and len(elem) == 2:
        return f"{render_expression(elem[0], quoted)} : {render_expression(elem[1])}"
    return render_expression(elem, quoted)
