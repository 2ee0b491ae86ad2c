"""Action plugin of ``backup.hyperv.group_snapshot``: one volume group's steps on its source Hyper-V host.

* ``state: present``: round trip 1 is a batch of the recovery checkpoints with the changed ranges since the
  stored RCT ids (change_tracking_checkpoint.ps1) and the read of the VMs' files and the host's volumes
  (shadow_copy_read.ps1); the controller then checks and plans the set for the VMs whose checkpoint succeeded
  (R15, unknown VMs, unreadable files: such a VM is left out, named in ``refused``, and fails alone; its checkpoint
  is destroyed by the release); round trip 2 is a batch of the shadow copy set's creation
  (shadow_copy_create.ps1) and, only once it exists, the conversion of the checkpoints into reference points
  (change_tracking_reference.ps1). Result: ``checkpoint``, ``shadow`` and ``reference``, each the result the
  step's own module (``change_tracking``, ``shadow_copy``) returns.
* ``state: absent``: one batch releases the checkpoints and reference points named in ``release``
  (change_tracking_release.ps1) and the set (shadow_copy_release.ps1), each tried whatever the other did.
  Result: ``change_tracking`` and ``shadow_copy``.

Why batches: a task opens one WinRM shell (six HTTP requests for its first command, four for each further one),
so two steps in one round trip cost four requests fewer (docs/backup.md, "The backup job"). A step that fails
fails the task, and the result keeps what the steps before it did, for the release in the play's ``always``.
Check mode sends only the read: nothing is created, converted or released.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import (
    RUN,
    ConnectionFailed,
    reports_connection_retries,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script, run_scripts
from ansible_collections.backup.hyperv.plugins.plugin_utils.change_tracking import (
    ChangeTrackingError,
    checkpoint_check_mode,
    checkpoint_params,
    checkpoint_result,
    checkpoints_to_convert,
    ready_vms,
    reference_params,
    reference_result,
    release_check_mode,
    release_params,
    release_result,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.group_snapshot import (
    GROUP_SNAPSHOT_REQUIRED_IF,
    GroupStepFailed,
    check_group_args,
    group_snapshot_full_spec,
    left_by_lost_reply,
    set_id_of,
    tracking_args,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import ShadowCopyError, known_release_plan
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import MixedStorageError
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_steps import (
    create_params,
    created_result,
    known_release_result,
    plan_present,
    planned_result,
    read_params,
    refusals,
    release_after_read,
    released_by_known_copies,
    unsupported_refusals,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

GROUP_SNAPSHOT_SPEC = group_snapshot_full_spec()
_STEP_RESULTS = ("checkpoint", "shadow", "reference", "change_tracking", "shadow_copy")


class ActionModule(ActionBase):
    """Snapshot a volume group (checkpoints, shadow copy set, reference points) or release it, on its host."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=GROUP_SNAPSHOT_SPEC, required_if=GROUP_SNAPSHOT_REQUIRED_IF)[1]
        try:
            check_group_args(args)  # before any round trip: bad input sends nothing
            {"present": self._present, "absent": self._absent}[args["state"]](args, result)
        except (GroupStepFailed, ChangeTrackingError, ShadowCopyError, MixedStorageError, WindowsPathError) as exc:
            result.update(failed=True, msg=str(exc))
        except ScriptError as exc:
            result.update(exc.to_result())
        except ConnectionFailed as exc:  # failed, not unreachable: the group's release must still run
            result.update(exc.as_failure())
            if exc.stage == RUN and args["state"] == "present" and not self._task.check_mode:
                result["msg"] += left_by_lost_reply(result, tracking_args(args)["vms"])
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            result.update(failed=True, msg=f"a group_snapshot script replied in an unexpected shape ({exc!r})")
        result["changed"] = any(bool(result.get(step, {}).get("changed")) for step in _STEP_RESULTS)
        return result

    def _present(self, args: dict[str, Any], result: dict[str, Any]) -> None:
        tracking = tracking_args(args)
        vms = tracking["vms"]
        read = read_params(args, Vms=vms)
        if self._task.check_mode:
            result["checkpoint"] = checkpoint_check_mode(tracking)
            files = run_script(self, "shadow_copy_read", read)
        else:
            calls = [("change_tracking_checkpoint", checkpoint_params(tracking)), ("shadow_copy_read", read)]
            replies = run_scripts(self, calls, stop_on_failure=True)
            result["checkpoint"] = checkpoint_result(_value(replies[0]), vms)
            files = _value(replies[1])
        ready = ready_vms(vms, result["checkpoint"])
        refused = refusals(files, ready)  # R15, a VM gone, unreadable files: that VM fails alone, before the set
        if refused:
            result["refused"] = refused
        ready = [vm for vm in ready if vm not in refused]
        if not ready:  # every VM failed its checkpoint or was refused: nothing to shadow
            return
        plan = plan_present(files, ready)
        checkpoints = {vm: cp for vm, cp in checkpoints_to_convert(result["checkpoint"]).items() if vm in ready}
        if self._task.check_mode:
            result["shadow"] = planned_result(plan, args)
            return
        # A volume no VSS provider of the host supports in the set (a disk of the host itself) is left out of it and
        # its VMs fail alone; their checkpoints are converted with the others and the release drops those points.
        calls = [("shadow_copy_create", create_params(plan, args, skip_unsupported=True))]
        if checkpoints:  # converted only once the set exists: stop_on_failure
            calls.append(("change_tracking_reference", reference_params({"checkpoints": checkpoints})))
        replies = run_scripts(self, calls, stop_on_failure=True)
        created = _value(replies[0])
        if len(replies) > 1 and not isinstance(replies[1], ScriptError):
            result["reference"] = reference_result(replies[1], list(checkpoints))
        plan, unsupported = unsupported_refusals(plan, created)
        if unsupported:
            result["refused"] = {**result.get("refused", {}), **unsupported}
        result["shadow"] = created_result(plan, created, args)
        _raise_first(replies[1:])

    def _absent(self, args: dict[str, Any], result: dict[str, Any]) -> None:
        release, set_id = tracking_args(args)["release"], set_id_of(args)
        copies, check_mode = args["shadow_copies"] or [], self._task.check_mode
        known = set_id is not None and released_by_known_copies(True, copies, check_mode)
        plan = known_release_plan(set_id, copies, args) if known and set_id is not None else None
        calls: list[tuple[str, dict[str, Any]]] = []
        if release and not check_mode:
            calls.append(("change_tracking_release", release_params({"release": release})))
        if plan is not None:
            calls.append(("shadow_copy_release", plan))
        # stop_on_failure False: a release that fails does not keep the other from running
        replies = dict(zip([name for name, _params in calls], run_scripts(self, calls, False) if calls else []))
        if release:
            result["change_tracking"] = _tracking_released(release, replies.get("change_tracking_release"))
        released = replies.get("shadow_copy_release")
        if plan is not None and set_id is not None and isinstance(released, dict):
            result["shadow_copy"] = known_release_result(set_id, plan, released)
        elif set_id is not None and plan is None:  # a share's set, or copies not named: read what is left first
            result["shadow_copy"] = release_after_read(self, args, True, set_id)
        _raise_first(list(replies.values()))


def _tracking_released(release: dict[str, Any], done: dict[str, Any] | ScriptError | None) -> dict[str, Any]:
    """The change_tracking release's result: check mode's (not sent), none (it failed), or what it destroyed."""
    if done is None:
        return release_check_mode({"release": release})
    return {} if isinstance(done, ScriptError) else release_result(done, list(release))


def _value(reply: dict[str, Any] | ScriptError) -> dict[str, Any]:
    """A script's document, or its failure raised."""
    if isinstance(reply, ScriptError):
        raise reply
    return reply


def _raise_first(replies: Sequence[dict[str, Any] | ScriptError]) -> None:
    """Fail the task with the steps' failures, once the results of the others are recorded."""
    failures = [str(reply) for reply in replies if isinstance(reply, ScriptError)]
    if failures:
        raise GroupStepFailed("; ".join(failures))
