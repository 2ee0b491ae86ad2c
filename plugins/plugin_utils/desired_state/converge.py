"""The one flow every install action follows: read, plan, report, apply only the difference.

One round trip reads the host; the plan is pure Python; a second round trip, only when there are
steps and the task is not in check mode, applies them. Failures of either script, and plans that
cannot be made, become a ``failed`` result here, once. Secrets go to the apply script as stdin
parameters and are masked out of anything the host sends back. ``ConvergeAction`` is the action
plugin every install module shares: each names its argument spec and turns its arguments into a
``Convergence``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import Plan, PlanError

MASK = "********"


@dataclass(frozen=True)
class Convergence:
    """What differs between the install actions: their scripts, how they plan, what is secret."""

    read_script: str
    read_params: Mapping[str, Any]
    plan: Callable[[Mapping[str, Any]], Plan]  # read reply -> plan
    apply_script: str
    apply_params: Mapping[str, Any]  # sent with {"Steps": [...]}; may hold secrets
    secrets: Sequence[str] = ()


class ConvergeAction(ActionBase):
    """An install module's action plugin: validate the task, check its input, converge the host.

    A subclass sets ``ARGUMENT_SPEC`` (and ``SPEC_RULES``: required_if and the like, passed to
    ``validate_argument_spec``) and implements ``convergence``, which raises ``PlanError`` for input
    that is wrong before any round trip (bad input changes nothing and costs no connection).
    """

    _supports_check_mode = True
    _supports_async = False
    ARGUMENT_SPEC: ClassVar[dict[str, Any]]
    SPEC_RULES: ClassVar[dict[str, Any]] = {}

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC, **self.SPEC_RULES)[1]
        try:
            job = self.convergence(args)
        except PlanError as exc:  # a ManifestError's message starts with the field's path
            result.update(failed=True, msg=str(exc))
            return result
        return converge(self, result, job)

    def convergence(self, args: dict[str, Any]) -> Convergence:
        """The read, plan and apply of this module for the validated ``args``; raises ``PlanError``."""
        raise NotImplementedError


def converge(action: ActionBase, result: dict[str, Any], job: Convergence) -> dict[str, Any]:
    """Run ``job`` on the action's host and fill ``result`` (changed, state keys, diff, steps)."""
    try:
        plan = _plan(job, run_script(action, job.read_script, job.read_params))
        result.update(changed=plan.changed, steps=plan.steps, reboot_required=False, **plan.after)
        if action._task.diff:
            result["diff"] = {"before": plan.before, "after": plan.after}
        if plan.steps and not action._task.check_mode:
            applied = run_script(action, job.apply_script, {**job.apply_params, "Steps": plan.steps})
            result["reboot_required"] = bool(applied.get("reboot_required"))
            if applied.get("restart_started"):
                result.setdefault("warnings", []).append(_restart_warning(plan.steps, applied.get("applied")))
    except ScriptError as exc:
        result.update(mask(exc.to_result(), job.secrets))
    except PlanError as exc:
        result.update(failed=True, msg=mask(str(exc), job.secrets))
    return result


def _restart_warning(steps: Sequence[Mapping[str, Any]], applied: Any) -> str:
    """An installer started a restart of the host (exit code 1641): the steps after it were not run."""
    left = [str(step.get("action")) for step in steps[int(applied or 0) :]]
    return (
        "an installer started a restart of the host (exit code 1641, ERROR_SUCCESS_REBOOT_INITIATED); "
        f"not run: {', '.join(left) or 'nothing'}. Run this again once the host is back."
    )


def _plan(job: Convergence, reply: Mapping[str, Any]) -> Plan:
    """The plan for a read reply; a reply of the wrong shape is the host's fault, said as such."""
    try:
        return job.plan(reply)
    except (KeyError, TypeError, AttributeError) as exc:
        raise PlanError(f"{job.read_script}.ps1 returned a reply of an unexpected shape ({exc!r})") from exc


def mask(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every secret replaced by ``********``, in strings at any depth."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item, secrets) for item in value]
    return value
