"""Values nft statements compute (`meta mark set ...`, `dnat to ...`): constants, packet fields,
arithmetic on them, and map lookups whose answer may be one of several."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webapp.engine.evaluate import EvalRun, choose
from webapp.engine.nft.exprs import compile_selector
from webapp.engine.nft.sets import SetResolver, key_of
from webapp.engine.nft.types import BREAK, flag_value, parse_constant
from webapp.engine.packet import PacketState
from webapp.engine.values import ValueParseError

NO_MATCH = "no match"


@dataclass(frozen=True, slots=True)
class Choices:
    """A map lookup on a partly unknown key: the data it may give, and whether it may miss."""

    values: tuple[Any, ...]
    can_miss: bool


Computed = Any  # Value | _Break | Choices | raw map data
ValueReader = Callable[[PacketState], Computed]


def compile_value(expr: Any, dtype: str, family: str, sets: SetResolver,
                  parse: Callable[[Any], Any] | None = None) -> ValueReader:
    """A reader for a statement's value; map data is passed through `parse` (default: a
    constant of `dtype`)."""
    convert = parse or (lambda raw: _constant(raw, dtype))
    if isinstance(expr, dict) and len(expr) == 1 and "map" in expr:
        body = expr["map"]
        if not isinstance(body, dict):
            raise ValueParseError(f"bad map expression {expr!r}")
        key = compile_selector(body.get("key"), family)
        table, _ = sets.lookup_table(body.get("data"), key.dtypes, True)
        data = [convert(d) for _, d in table.elements]

        def lookup(state: PacketState) -> Computed:
            value = key.read(state)
            if value is BREAK:
                return BREAK
            sure, maybe = table.candidates(key_of(value))
            sure = [i for i in sure if i >= 0]
            if sure and not maybe:
                return data[sure[0]]
            if not sure and not maybe:
                return BREAK  # a map lookup that misses stops the rule
            found = tuple(dict.fromkeys(data[i] for i in sure + maybe))
            return Choices(found, not sure)

        return lookup
    if isinstance(expr, dict) and len(expr) == 1 and _reads_packet(expr):
        return compile_selector(expr, family).read
    constant = convert(expr)
    return lambda state: constant


def _reads_packet(expr: dict[str, Any]) -> bool:
    """A selector (`ct mark`, `meta mark | 0x10`) rather than a constant (`1.2.3.0/24`,
    `10.0.0.1 . 80`, `syn | ack`)."""
    kind, body = next(iter(expr.items()))
    if kind in ("prefix", "range", "concat"):
        return False
    if kind in ("|", "&", "^", "<<", ">>"):
        return isinstance(body, list) and bool(body) and isinstance(body[0], dict)
    return True


def _constant(raw: Any, dtype: str) -> Any:
    if isinstance(raw, (list, dict)):
        return flag_value(raw, dtype)
    return parse_constant(raw, dtype)


def resolve(run: EvalRun, key: tuple[object, ...], describes: str, value: Computed) -> Any:
    """Settle a computed value: a lookup with several possible answers forks the evaluation."""
    if isinstance(value, Choices):
        options: tuple[Any, ...] = value.values + ((NO_MATCH,) if value.can_miss else ())
        picked = options[0] if len(options) == 1 else choose(run, key, describes, options)
        return BREAK if picked == NO_MATCH else picked
    return value
