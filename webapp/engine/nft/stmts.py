"""nft rule statements compiled to steps run in order: matches, verdicts, verdict maps, packet
changes (mark, NAT, notrack, dynamic sets) and statements whose outcome Segscope cannot see."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collectors.nft.render import render_expression, render_statement
from webapp.engine.evaluate import EvalRun, choose
from webapp.engine.nft.exprs import compile_selector
from webapp.engine.nft.nat import compile_nat
from webapp.engine.nft.sets import SetResolver, compile_match, key_of
from webapp.engine.nft.types import BREAK
from webapp.engine.nft.values import compile_value, resolve
from webapp.engine.values import ValueParseError


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a rule ends: ACCEPT, DROP, REJECT, continue, return, jump, goto, nat, queue (a
    userspace program decides) or unknown (a statement Segscope does not model)."""

    kind: str
    target: str | None = None
    describes: str = ""


ACCEPT, DROP, REJECT = Verdict("ACCEPT"), Verdict("DROP"), Verdict("REJECT")
CONTINUE, RETURN, NAT = Verdict("continue"), Verdict("return"), Verdict("nat")
# A step answers None (go on with the next statement), False (the rule stops: no match) or the
# rule's verdict; it may change the packet and add notes for the trace.
Step = Callable[[EvalRun, list[str]], "Verdict | bool | None"]
_CONTINUING = frozenset({"counter", "log", "flow", "dup", "ct helper", "ct timeout",
                         "ct expectation", "secmark", "last", "reset"})
_OPAQUE_CHECKS = frozenset({"limit", "quota", "ct count", "tproxy", "synproxy"})


class LazyText:
    """A statement's nft text, rendered the first time a description needs it."""

    __slots__ = ("_make", "_text")

    def __init__(self, make: Callable[[], str]) -> None:
        self._make: Callable[[], str] | None = make
        self._text = ""

    def __str__(self) -> str:
        if self._make is not None:
            self._text, self._make = self._make(), None
        return self._text


@dataclass(slots=True)
class RuleContext:
    """Where a rule stands, for fork keys and descriptions, and what it may look up."""

    family: str
    table: str
    chain: str
    position: int
    sets: SetResolver
    opaque: Counter[str]

    def key(self, index: int) -> tuple[object, ...]:
        return ("nft", self.family, self.table, self.chain, self.position, index)

    def describe(self, text: LazyText) -> LazyText:
        where = f"{self.family} {self.table} {self.chain} rule {self.position}"
        return LazyText(lambda: f"{where} ({text})")


def verdict_of(raw: Any) -> Verdict:
    """A verdict as nft writes it in a rule or verdict map: `{"jump": {"target": "x"}}`."""
    if isinstance(raw, dict) and len(raw) == 1:
        kind, body = next(iter(raw.items()))
        fixed = {"accept": ACCEPT, "drop": DROP, "continue": CONTINUE, "return": RETURN}
        if kind in fixed:
            return fixed[kind]
        if kind in ("jump", "goto") and isinstance(body, dict) and "target" in body:
            return Verdict(kind, str(body["target"]))
    raise ValueParseError(f"not a verdict: {raw!r}")


def compile_statement(stmt: Any, index: int, ctx: RuleContext) -> Step:
    """One statement as a step; anything Segscope cannot model becomes a "depends on" fork."""
    text = LazyText(lambda: render_statement(stmt))
    try:
        kind, body = next(iter(stmt.items())) if isinstance(stmt, dict) and len(stmt) == 1 \
            else ("?", stmt)
        return _compile(kind, body, text, index, ctx)
    except (ValueParseError, KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = str(exc)
        ctx.opaque[f"unreadable: {reason}"[:80]] += 1
        return _unknown_check(ctx, index, LazyText(lambda: f"{text}: {reason}"))


def _compile(kind: str, body: Any, text: LazyText, index: int, ctx: RuleContext) -> Step:
    if kind == "match":
        check, left = compile_match(body, ctx.family, ctx.sets)
        if left.opaque:
            ctx.opaque[left.opaque] += 1
        key, describes = ctx.key(index), ctx.describe(text)

        def match(run: EvalRun, notes: list[str]) -> bool | None:
            result = check(run.state)
            if result is None:
                result = bool(choose(run, key, str(describes), (True, False)))
            return None if result else False

        return match
    if kind in ("accept", "drop", "continue", "return", "jump", "goto"):
        verdict = _known_target(verdict_of({kind: body}), ctx)
        return lambda run, notes: verdict
    if kind == "reject":
        return _reject(body)
    if kind == "queue":
        queued = Verdict("queue", describes=f"{text}: verdict given by a userspace program")
        ctx.opaque["queue"] += 1
        return lambda run, notes: queued
    if kind == "vmap":
        return _vmap(body, text, index, ctx)
    if kind in ("snat", "dnat", "masquerade", "redirect"):
        inner = compile_nat(kind, body, ctx.family, ctx.sets, ctx.key(index),
                            ctx.describe(text))

        def nat(run: EvalRun, notes: list[str]) -> Verdict | bool | None:
            result = inner(run, notes)
            return NAT if result is True else result

        return nat
    if kind == "mangle":
        return _mangle(body, text, index, ctx)
    if kind == "notrack":
        return _notrack
    if kind in ("set", "map") and isinstance(body, dict) and "op" in body:
        return _set_update(kind, body, text, index, ctx)
    if kind in _CONTINUING:
        return lambda run, notes: None
    if kind == "meter" and not _has_limit(body.get("stmt")):
        return lambda run, notes: None
    if kind in ("xt", "fwd") and isinstance(body, dict) and body.get("type") != "match":
        ctx.opaque[f"{kind} {body.get('name', '')}".strip()] += 1
        unknown = Verdict("unknown", describes=f"{text}: not modelled")
        return lambda run, notes: unknown
    ctx.opaque[kind if kind in _OPAQUE_CHECKS or kind == "meter" else f"statement {kind}"] += 1
    return _unknown_check(ctx, index, text)


def _reject(body: Any) -> Step:
    """nft puts a dependency before a reject that the listing leaves out: `meta nfproto` for
    ICMP and ICMPv6 errors (in inet tables), `meta l4proto tcp` for a TCP reset."""
    kind = body.get("type") if isinstance(body, dict) else None
    family = {"icmp": 4, "icmpv6": 6}.get(str(kind))

    def reject(run: EvalRun, notes: list[str]) -> Verdict | bool:
        state = run.state
        if (family is not None and state.family != family) or \
                (kind == "tcp reset" and state.proto != 6):
            return False
        return REJECT

    return reject


def _unknown_check(ctx: RuleContext, index: int, text: LazyText) -> Step:
    key, describes = ctx.key(index), ctx.describe(text)

    def unknown(run: EvalRun, notes: list[str]) -> bool | None:
        return None if choose(run, key, str(describes), (True, False)) else False

    return unknown


def _has_limit(stmts: Any) -> bool:
    items = stmts if isinstance(stmts, list) else [stmts]
    return any(isinstance(s, dict) and ("limit" in s or "quota" in s or "ct count" in s)
               for s in items)


def _vmap(body: dict[str, Any], text: LazyText, index: int, ctx: RuleContext) -> Step:
    key = compile_selector(body["key"], ctx.family)
    if key.opaque:
        ctx.opaque[key.opaque] += 1
    table, _ = ctx.sets.lookup_table(body["data"], key.dtypes, True)
    verdicts = [_known_target(verdict_of(data), ctx) for _, data in table.elements]
    fork_key, describes = ctx.key(index), ctx.describe(text)

    def vmap(run: EvalRun, notes: list[str]) -> Verdict | bool | None:
        value = key.read(run.state)
        if value is BREAK:
            return False
        sure, maybe = table.candidates(key_of(value))
        sure = [i for i in sure if i >= 0]
        if sure and not maybe:
            return verdicts[sure[0]]
        if not sure and not maybe:
            return False  # no element: the rule does not match
        options = list(dict.fromkeys(_verdict_text(verdicts[i]) for i in sure + maybe))
        if not sure:
            options.append("no match")
        picked = options[0] if len(options) == 1 else choose(run, fork_key, str(describes),
                                                             tuple(options))
        for i in sure + maybe:
            if _verdict_text(verdicts[i]) == picked:
                return verdicts[i]
        return False

    return vmap


def _known_target(verdict: Verdict, ctx: RuleContext) -> Verdict:
    """A jump to a chain the table lacks (nft refuses those; a hand-edited dump may not)."""
    if verdict.target is not None and verdict.target not in ctx.sets.table.chains:
        ctx.opaque["jump to a missing chain"] += 1
        return Verdict("unknown", describes=f"{verdict.kind} to missing chain {verdict.target}")
    return verdict


def _verdict_text(verdict: Verdict) -> str:
    name = verdict.kind.lower()
    return f"{name} {verdict.target}" if verdict.target else name


def _notrack(run: EvalRun, notes: list[str]) -> None:
    state = run.state
    if not state.ct_attached:  # once conntrack has run, notrack has nothing to undo
        state.untracked = True
        notes.append("connection tracking off (untracked)")


_FIELDS = {("meta", "mark"): ("mark", "mark"), ("ct", "mark"): ("ctmark", "mark"),
           ("meta", "nftrace"): ("nftrace", "integer"), ("ct", "zone"): ("ct_zone", "integer")}
_PAYLOAD_FIELDS = {"saddr": "src", "daddr": "dst", "sport": "sport", "dport": "dport",
                   "ttl": "ttl", "hoplimit": "ttl"}


def _mangle(body: dict[str, Any], text: LazyText, index: int, ctx: RuleContext) -> Step:
    target = body["key"]
    kind, spec = next(iter(target.items()))
    name = spec.get("key") if kind in ("meta", "ct") else spec.get("field")
    field, dtype = _FIELDS.get((kind, name), (None, "integer"))
    header = None
    if kind == "payload" and name in _PAYLOAD_FIELDS:
        selector = compile_selector(target, ctx.family)  # reading it checks the header is there
        field, dtype, header = _PAYLOAD_FIELDS[name], selector.dtype, selector.read
    value = compile_value(body["value"], dtype, ctx.family, ctx.sets)
    key, describes = ctx.key(index), ctx.describe(text)
    shown = render_expression(target)

    def mangle(run: EvalRun, notes: list[str]) -> bool | None:
        state = run.state
        if header is not None and header(state) is BREAK:
            return False
        result = resolve(run, key, str(describes), value(state))
        if result is BREAK:
            return False
        if field is None:
            notes.append(f"{shown} set (not modelled)")
            return None
        if kind == "ct" and not (state.ct_attached and not state.untracked):
            if field == "ct_zone":
                state.extra["ct_zone"] = result  # a template zone, used when conntrack runs
            return None
        if field == "ct_zone":
            return None  # the connection exists: its zone can no longer change
        if not isinstance(result, int):
            unknown = set(state.extra.get("nft_unknown", ()))
            unknown.add(field)
            state.extra["nft_unknown"] = frozenset(unknown)
            notes.append(f"{shown} set to a value Segscope cannot know")
            return None
        if field in ("nftrace", "ct_zone"):
            state.extra[field] = result
        else:
            setattr(state, field, result)
        notes.append(f"{shown} set to {result:#x}" if field in ("mark", "ctmark")
                     else f"{shown} set to {result}")
        return None

    return mangle


def _set_update(kind: str, body: dict[str, Any], text: LazyText, index: int,
                ctx: RuleContext) -> Step:
    element = compile_selector(body["elem"], ctx.family)
    name = str(body[kind]).lstrip("@")
    ident = (ctx.family, ctx.table, name)
    op = body["op"]
    limited = _has_limit(body.get("stmt"))
    key, describes = ctx.key(index), ctx.describe(text)
    if limited:
        ctx.opaque["limit in set statement"] += 1

    def update(run: EvalRun, notes: list[str]) -> bool | None:
        state = run.state
        value = element.read(state)
        if value is BREAK:
            return False
        parts = value if isinstance(value, tuple) else (value,)
        if kind == "set" and all(isinstance(p, (int, str)) for p in parts):
            sets = dict(state.extra.get("nft_sets", {}))
            entry = sets.get(ident, {"add": frozenset(), "del": frozenset()})
            if op == "delete":
                entry = {"add": entry["add"] - {parts}, "del": entry["del"] | {parts}}
            else:
                entry = {"add": entry["add"] | {parts}, "del": entry["del"] - {parts}}
            sets[ident] = entry
            state.extra["nft_sets"] = sets
            notes.append(f"{op} to @{name}" if op != "delete" else f"deleted from @{name}")
        if limited and not choose(run, key, str(describes), (True, False)):
            return False
        return None

    return update


def counters_of(statements: tuple[Any, ...]) -> tuple[int | None, int | None]:
    """The packet and byte counts of a rule's anonymous counter, if it has one."""
    for stmt in statements:
        if isinstance(stmt, dict) and isinstance(stmt.get("counter"), dict):
            counter = stmt["counter"]
            if "packets" in counter:
                return int(counter["packets"]), int(counter.get("bytes", 0))
    return None, None

