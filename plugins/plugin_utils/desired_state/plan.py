"""The value every desired-state planner returns, and the small comparisons planners share.

Words: *current* is what a read script reported, normalised; *desired* is what the task asked
for; a *step* is one small JSON-serialisable instruction (``{"action": ..., ...}``) that an apply
script executes in order; a *plan* is the steps plus ``before``/``after``, the two views diff
mode shows. ``after`` has the same shape as ``before`` (the normalised current state), so a plan
computed from ``after`` has no steps: that is the idempotence law the tests check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class PlanError(ValueError):
    """The desired state cannot be reached from the current one, or the input is invalid."""


@dataclass(frozen=True)
class Plan:
    """Ordered steps for the apply script and the before/after views for diff mode.

    Neither ``steps`` nor ``before``/``after`` ever carries a secret: secrets travel to the apply
    script as separate stdin parameters.
    """

    steps: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


_NUMERIC_VERSION = re.compile(r"^\d+(\.\d+)*$")


def same_version(left: str | None, right: str | None) -> bool:
    """Whether two version strings name the same version.

    Dotted numbers compare numerically with trailing zeros ignored (the registry's DisplayVersion
    ``1.2`` and a file version ``1.2.0.0`` are the same); anything else compares as text.
    """
    if left is None or right is None:
        return left is right
    left, right = left.strip(), right.strip()
    if _NUMERIC_VERSION.match(left) and _NUMERIC_VERSION.match(right):
        return _version_key(left) == _version_key(right)
    return left == right


def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def same_text(left: str | None, right: str | None) -> bool:
    """Case-blind comparison, as Windows compares service names, accounts and paths."""
    if left is None or right is None:
        return left is right
    return left.strip().casefold() == right.strip().casefold()
