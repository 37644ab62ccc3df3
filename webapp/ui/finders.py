"""plotly.js from the installed plotly package, served as `vendor/plotly.min.js`: the pages
never load it from a CDN (operators' machines may be offline), and collectstatic copies it
with the project's own files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

FILE = "plotly.min.js"
PREFIX = "vendor"


class PlotlyFinder(BaseFinder):
    """Finds `vendor/plotly.min.js` in plotly's package data, and nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source = Path(plotly.__file__).resolve().parent / "package_data"
        self.storage = FileSystemStorage(location=str(self.source))
        self.storage.prefix = PREFIX  # type: ignore[attr-defined]

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        if not (self.source / FILE).is_file():
            return [Error(f"plotly.js not found at {self.source / FILE}",
                          hint="reinstall the plotly package", id="segscope.E001")]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path != f"{PREFIX}/{FILE}" or not (self.source / FILE).is_file():
            return []  # as Django's own finders answer "not here"
        match = str(self.source / FILE)
        return [match] if find_all else match

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        if (self.source / FILE).is_file():
            yield FILE, self.storage
