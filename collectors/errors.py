"""Errors and warnings shared by every parser: each names the file, line and, where known,
column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something a parser kept but did not understand, with the place it stood."""

    filename: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.filename, "line": self.line, "message": self.message}


class ParseError(ValueError):
    """Input that cannot be read at all; nothing from the file should be used."""

    def __init__(self, filename: str, line: int, column: int, reason: str) -> None:
        super().__init__(f"{filename}:{line}:{column}: {reason}")
        self.filename = filename
        self.line = line
        self.column = column
        self.reason = reason

    def to_dict(self) -> dict[str, object]:
        return {"file": self.filename, "line": self.line, "column": self.column,
                "reason": self.reason}
