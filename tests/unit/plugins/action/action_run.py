"""One run of an action plugin as every action test makes it: the task's args must come back untouched."""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence


def run_action(
    make_action: Callable[..., tuple[Any, list]],
    name: str,
    replies: Sequence[Any],
    args: Mapping[str, Any],
    check_mode: bool = False,
    diff: bool = False,
) -> tuple[dict[str, Any], list]:
    """Run ``plugins/action/<name>.py`` once on ``replies``; return (result, calls)."""
    action, calls = make_action(name, replies=replies, args=args, check_mode=check_mode)
    action._task.diff = diff
    original = copy.deepcopy(action._task.args)
    result = action.run(task_vars={})
    assert action._task.args == original  # an action never mutates its task's args
    return result, calls
