"""nft sets and maps (named and anonymous, concatenated, intervals) and the match statement."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors.nft.model import NftSet, NftTable
from webapp.engine.nft.exprs import Selector, compile_selector
from webapp.engine.nft.types import (
    BITMASK_TYPES,
    BREAK,
    Pattern,
    Value,
    any_bits,
    compare,
    flag_value,
    parse_pattern,
    test_pattern,
)
from webapp.engine.packet import PacketState
from webapp.engine.values import ValueParseError

Check = Callable[[PacketState], "bool | None"]
SetId = tuple[str, str, str]  # family, table, set name


@dataclass(slots=True)
class CompiledSet:
    """Elements as per-part patterns (with map data), indexed for exact keys and intervals."""

    ident: SetId | None  # None for an anonymous set
    dtypes: tuple[str, ...]
    elements: list[tuple[tuple[Pattern, ...], Any]]
    exact: dict[tuple[object, ...], int] = field(default_factory=dict)
    lows: list[int] | None = None  # single-part, non-overlapping numeric intervals
    order: list[int] | None = None

    def __post_init__(self) -> None:
        ranges = []
        for index, (patterns, _) in enumerate(self.elements):
            if all(p[0] == "range" and p[1] == p[2] or p[0] == "eq" for p in patterns):
                self.exact.setdefault(tuple(p[1] for p in patterns), index)
            elif len(patterns) == 1 and patterns[0][0] == "range":
                ranges.append((patterns[0][1], patterns[0][2], index))
            else:
                return
        ranges.sort()
        if all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False)):
            self.lows = [low for low, _, _ in ranges]
            self.order = [index for _, _, index in ranges]

    def candidates(self, key: tuple[Value, ...], state: PacketState | None = None
                   ) -> tuple[list[int], list[int]]:
        """Indices of elements the key surely matches, and of those it may match."""
        known = all(isinstance(v, (int, str)) for v in key)
        if known and self.ident is not None and state is not None:
            dynamic = state.extra.get("nft_sets", {}).get(self.ident)
            if dynamic is not None:
                if key in dynamic["del"]:
                    return [], []
                if key in dynamic["add"]:
                    return [-1], []
        if known and key in self.exact:
            return [self.exact[key]], []
        if known and self.lows is not None and self.order is not None:
            if not self.lows:
                return [], []  # every element is exact and none is the key
            number = key[0]
            if len(key) == 1 and isinstance(number, int):
                at = bisect_right(self.lows, number) - 1
                if at >= 0 and test_pattern(self.elements[self.order[at]][0][0], number):
                    return [self.order[at]], []
                return [], []
        if not self.elements:
            return [], []
        sure: list[int] = []
        maybe: list[int] = []
        for index, (patterns, _) in enumerate(self.elements):
            result: bool | None = True
            for pattern, value in zip(patterns, key, strict=False):
                hit = test_pattern(pattern, value)
                if hit is False:
                    result = False
                    break
                if hit is None:
                    result = None
            if result:
                sure.append(index)
                if known:
                    break
            elif result is None:
                maybe.append(index)
        return sure, maybe

    def member(self, key: tuple[Value, ...], state: PacketState) -> bool | None:
        sure, maybe = self.candidates(key, state)
        return True if sure else None if maybe else False


def compile_elements(raw: tuple[Any, ...] | list[Any], dtypes: tuple[str, ...],
                     is_map: bool, ident: SetId | None) -> CompiledSet:
    """Parse set or map elements against the key types of the expression that looks them up."""
    elements = []
    for item in raw:
        key, data = (item[0], item[1]) if is_map and isinstance(item, list) and \
            len(item) == 2 else (item, None)
        elements.append((_key_patterns(key, dtypes), data))
    return CompiledSet(ident, dtypes, elements)


def _key_patterns(key: Any, dtypes: tuple[str, ...]) -> tuple[Pattern, ...]:
    if isinstance(key, dict) and "elem" in key and isinstance(key["elem"], dict):
        key = key["elem"].get("val")
    if len(dtypes) == 1:
        return (parse_pattern(key, dtypes[0]),)
    if key == "*":
        return tuple(("any",) for _ in dtypes)
    if not (isinstance(key, dict) and isinstance(key.get("concat"), list)
            and len(key["concat"]) == len(dtypes)):
        raise ValueParseError(f"element {key!r} does not have {len(dtypes)} parts")
    return tuple(parse_pattern(part, dtype) for part, dtype in zip(key["concat"], dtypes,
                                                                     strict=True))


class SetResolver:
    """Named sets of one table, compiled once per key type they are looked up with."""

    def __init__(self, table: NftTable) -> None:
        self.table = table
        self._cache: dict[tuple[str, tuple[str, ...]], CompiledSet] = {}

    def named(self, ref: str, dtypes: tuple[str, ...]) -> tuple[CompiledSet, NftSet]:
        name = ref[1:] if ref.startswith("@") else ref
        declared = self.table.sets.get(name)
        if declared is None:
            raise ValueParseError(f"no set or map @{name} in table {self.table.label}")
        key = (name, dtypes)
        if key not in self._cache:
            ident = (self.table.family, self.table.name, name)
            self._cache[key] = compile_elements(declared.elements, dtypes, declared.is_map,
                                                ident)
        return self._cache[key], declared

    def lookup_table(self, data: Any, dtypes: tuple[str, ...], is_map: bool
                     ) -> tuple[CompiledSet, NftSet | None]:
        """The set a right-hand side or map names: `@name` or an anonymous `{"set": [...]}`."""
        if isinstance(data, str) and data.startswith("@"):
            return self.named(data, dtypes)
        if isinstance(data, dict) and "set" in data:
            items = data["set"] if isinstance(data["set"], list) else [data["set"]]
            return compile_elements(items, dtypes, is_map, None), None
        raise ValueParseError(f"not a set: {data!r}")


def key_of(value: object) -> tuple[Value, ...]:
    """A looked-up value as a key: concatenations are tuples already."""
    return value if isinstance(value, tuple) else (value,)


def compile_match(body: dict[str, Any], family: str, sets: SetResolver
                  ) -> tuple[Check, Selector]:
    """A match statement as a check returning True, False or None (cannot be known)."""
    op = body.get("op")
    left = compile_selector(body.get("left"), family)
    right = body.get("right")
    read = left.read
    negated = op == "!="
    if isinstance(right, dict) and "concat" in right:
        right = {"set": [right]}
    if (isinstance(right, str) and right.startswith("@")) or \
            (isinstance(right, dict) and "set" in right):
        table, _ = sets.lookup_table(right, left.dtypes, False)

        def lookup(state: PacketState) -> bool | None:
            value = read(state)
            if value is BREAK:
                return False
            found = table.member(key_of(value), state)
            return found if found is None or not negated else not found

        return lookup, left
    if len(left.dtypes) != 1:
        raise ValueParseError(f"a concatenation compared with {right!r}")
    dtype = left.dtype
    if op == "in" and (dtype in BITMASK_TYPES or isinstance(right, list)):
        mask = flag_value(right, dtype)
        return (lambda state: _bits_check(read(state), mask)), left
    if op in ("<", ">", "<=", ">="):
        pattern = parse_pattern(right, dtype)
        if pattern[0] != "range" or pattern[1] != pattern[2]:
            raise ValueParseError(f"{op} needs a number, not {right!r}")
        limit = pattern[1]

        def ordered(state: PacketState) -> bool | None:
            value = read(state)
            if value is BREAK or isinstance(value, tuple):
                return False if value is BREAK else None
            return compare(value, str(op), limit)  # type: ignore[arg-type]

        return ordered, left
    if op not in ("==", "!=", "in"):
        raise ValueParseError(f"operator {op!r} in a match")
    pattern = parse_pattern(right, dtype)

    def equal(state: PacketState) -> bool | None:
        value = read(state)
        if value is BREAK:
            return False
        if isinstance(value, tuple):
            return None
        hit = test_pattern(pattern, value)  # type: ignore[arg-type]
        return hit if hit is None or not negated else not hit

    return equal, left


def _bits_check(value: object, mask: int) -> bool | None:
    if value is BREAK:
        return False
    if isinstance(value, tuple):
        return None
    return any_bits(value, mask)  # type: ignore[arg-type]
