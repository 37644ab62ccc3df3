"""Filters the API's filtersets share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time with a zone, as UTC: PostgreSQL refuses the offsets past ±15:59 that
    Python accepts (a DataError, so a 500), and UTC also keeps far years from overflowing."""

    def to_python(self, value: Any) -> datetime | None:
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Enter a time within the years 1 to 9999.",
                                  code="invalid") from None


class UtcIsoDateTimeRangeField(RangeField):
    """`<name>_after` and `<name>_before`, each an ISO 8601 time read as UTC."""

    widget = DateRangeWidget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((UtcIsoDateTimeField(), UtcIsoDateTimeField()), *args, **kwargs)


class UtcDateTimeFromToRangeFilter(filters.RangeFilter):
    """django-filter's IsoDateTimeFromToRangeFilter, its bounds read as UTC."""

    field_class = UtcIsoDateTimeRangeField
