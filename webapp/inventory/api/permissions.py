"""The roles' permissions, as the inventory's views have always imported them."""

from __future__ import annotations

from typing import Any

from webapp.api.permissions import OPERATOR, IsOperator, IsOperatorOrReadOnly, has_role

OPERATOR_GROUP = OPERATOR

__all__ = ["OPERATOR_GROUP", "IsOperator", "IsOperatorOrReadOnly", "is_operator"]


def is_operator(user: Any) -> bool:
    """Whether a user may change the inventory: an operator (staff, the `operator` group or an
    admin)."""
    return has_role(user, OPERATOR)
