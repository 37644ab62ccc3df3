"""What the parser fuzz tests share: the bounded, derandomized settings profile, real documents
from the repository, ways of damaging them, and the check that an error names its place."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from collectors.errors import ParseError

REPO_ROOT = Path(__file__).resolve().parents[2]
# SEGSCOPE_FUZZ_EXAMPLES=20000 for a long campaign; the default keeps CI near a minute.
EXAMPLES = int(os.environ.get("SEGSCOPE_FUZZ_EXAMPLES", "100"))

settings.register_profile(
    "segscope-fuzz", max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
FUZZ = settings.get_profile("segscope-fuzz")


def texts(*patterns: str) -> list[str]:
    """The real documents in the repository matching glob patterns, in a stable order."""
    paths = sorted({p for pattern in patterns for p in REPO_ROOT.glob(pattern)})
    assert paths, f"no documents match {patterns}"
    return [p.read_text() for p in paths]


# Pieces that parsers treat specially, so that insertions reach past their first checks.
NOISE = st.sampled_from([
    "", " ", "\t", "\n", "\r\n", "\x00", "\ufeff", '"', "'", "\\", "!", "#", "-", "--", ":",
    ",", "/", "[", "]", "{", "}", "0", "-1", "65536", "4294967296", "1e999", "NaN", "null",
    "true", "0x", "::", "10.0.0.0/33", "999.1.1.1", "2001:db8::/129", "é", "\U0001f600",
])


@st.composite
def damaged(draw: st.DrawFn, documents: list[str], pieces: st.SearchStrategy[str] = NOISE
            ) -> str:
    """A real document truncated, with text inserted, cut, lines repeated or swapped."""
    text = draw(st.sampled_from(documents))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        edit = draw(st.sampled_from(["cut", "insert", "delete", "repeat", "swap", "drop"]))
        pos = draw(st.integers(0, len(text)))
        if edit == "cut":
            text = text[:pos]
        elif edit == "insert":
            text = text[:pos] + draw(pieces | st.text(max_size=5)) + text[pos:]
        elif edit == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        else:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if edit == "repeat":
                lines.insert(j, lines[i])
            elif edit == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                del lines[i]
            text = "\n".join(lines)
    return text


def assert_located(error: ParseError, filename: str, text: str) -> None:
    """The error names the file, a line that exists (or the one after the last) and a column."""
    assert error.filename == filename
    assert 1 <= error.line <= max(1, text.count("\n") + 2), error
    assert error.column >= 1, error
    assert error.reason, error


def json_values(keys: list[str], scalars: list[object]) -> st.SearchStrategy[object]:
    """JSON values whose mappings use a format's own keys and whose leaves its own values."""
    leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
              | st.text(max_size=12) | st.sampled_from(scalars))
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), inner, max_size=4),
        max_leaves=12)


@st.composite
def mutated_json(draw: st.DrawFn, documents: list[object],
                 values: st.SearchStrategy[object]) -> object:
    """A real JSON document with a few values somewhere inside replaced, removed or added."""
    doc = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 3))):
        holder: Any = None
        key: Any = None
        node: Any = doc
        # Walk down a random path; stop at a leaf or when the draw says so.
        while isinstance(node, dict | list) and node and draw(st.integers(0, 3)):
            holder = node
            key = draw(st.sampled_from(sorted(node) if isinstance(node, dict)
                                       else range(len(node))))
            node = node[key]
        if holder is None:
            doc = draw(values) if draw(st.integers(0, 9)) == 0 else doc
            continue
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            holder[key] = draw(values)
        elif action == "remove":
            del holder[key]
        elif isinstance(holder, list):
            holder.insert(key, draw(values))
        else:
            holder[draw(st.text(max_size=6) | st.sampled_from(sorted(holder)))] = draw(values)
    return doc
