"""JSON flow logs: every document of a file with the line it starts on, whatever the framing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from collectors.flowlogs.parsing import Report

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n\ufeff"


class LineIndex:
    """Turns character offsets of one text into 1-based line numbers, moving forward cheaply."""

    __slots__ = ("text", "_pos", "_line", "_cursor")

    def __init__(self, text: str) -> None:
        self.text = text
        self._pos = 0
        self._line = 1
        self._cursor = 0

    def line_of(self, pos: int) -> int:
        if pos < self._pos:
            self._pos, self._line = 0, 1
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def find(self, needle: str, fallback: int) -> int:
        """The line of the next occurrence of needle after the last one found, else fallback."""
        pos = self.text.find(needle, self._cursor)
        if pos < 0:
            return fallback
        self._cursor = pos + len(needle)
        return self.line_of(pos)

    def find_json_string(self, value: str, fallback: int) -> int:
        """The line of the next occurrence of value written as a JSON string."""
        return self.find(json.dumps(value), fallback)


def documents(text: str, report: Report, index: LineIndex | None = None) -> Iterator[
        tuple[int, Any]]:
    """Each JSON value of a file with its first line: array elements, one document, or JSONL."""
    # Invalid JSON is reported and skipped: inside a top-level array that ends the file;
    # elsewhere parsing resumes at the next line that opens a value at column 0 (JSONL).
    index = index or LineIndex(text)
    n = len(text)
    pos = _skip_space(text, 0)
    if pos < n and text[pos] == "[":
        yield from _array(text, pos, report, index)
        return
    while pos < n:
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            first = index.line_of(pos)
            pos = _next_top_level_line(text, pos)
            last = index.line_of(pos) - (1 if pos < n else 0)
            skipped = f" (lines {first}-{last} skipped)" if last > first else ""
            report.error(first, f"invalid JSON: {_reason(exc)}{skipped}")
            continue
        yield index.line_of(pos), value
        pos = _skip_space(text, end)


def _array(text: str, pos: int, report: Report, index: LineIndex) -> Iterator[tuple[int, Any]]:
    n = len(text)
    pos = _skip_space(text, pos + 1)
    if pos < n and text[pos] == "]":
        return
    while pos < n:
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            report.error(index.line_of(pos), f"invalid JSON: {_reason(exc)}")
            return
        yield index.line_of(pos), value
        pos = _skip_space(text, end)
        if pos < n and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            continue
        if pos < n and text[pos] == "]":
            pos = _skip_space(text, pos + 1)
            if pos < n:
                report.error(index.line_of(pos), "unexpected data after the closing ]")
            return
        break
    report.error(index.line_of(min(pos, n)), "JSON array not closed: expected ',' or ']'")


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _next_top_level_line(text: str, pos: int) -> int:
    """The start of the next line that opens a JSON value at column 0 (JSONL resync)."""
    while True:
        newline = text.find("\n", pos)
        if newline < 0:
            return len(text)
        pos = newline + 1
        if pos < len(text) and text[pos] in "{[":
            return pos


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:80]


def get(obj: Any, *names: str) -> Any:
    """obj[name] for the first name present if obj is a JSON object, else None."""
    # Several names cover protojson's two spellings (`source_port` / `sourcePort`).
    if not isinstance(obj, dict):
        return None
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None
