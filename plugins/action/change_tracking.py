"""Action plugin of ``backup.hyperv.change_tracking``: Hyper-V resilient change tracking (RCT) on the source host.

* ``state: checkpoint``: per VM a recovery checkpoint (its disks frozen) and, per disk, the byte ranges changed
  since the RCT id the repository recorded, or the reason for a full read (change_tracking_checkpoint.ps1).
* ``state: reference``: each recovery checkpoint becomes a reference point; per disk its new RCT id
  (change_tracking_reference.ps1).
* ``state: absent``: destroy a checkpoint never converted, and the reference points the job no longer needs
  (change_tracking_release.ps1); what is gone is skipped.

Each state is one round trip, after the input checks (bad input changes nothing and sends nothing). A VM's own
failure is in its entry (``failed``, ``msg``): the task fails only when the script does. Check mode sends nothing.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import (
    ConnectionFailed,
    reports_connection_retries,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.change_tracking import (
    CHANGE_TRACKING_REQUIRED_IF,
    ChangeTrackingError,
    change_tracking_argument_spec,
    check_args,
    checkpoint_check_mode,
    checkpoint_params,
    checkpoint_result,
    reference_check_mode,
    reference_params,
    reference_result,
    release_check_mode,
    release_params,
    release_result,
)

CHANGE_TRACKING_SPEC = {**probe_argument_spec(), **change_tracking_argument_spec()}

# Per state: the script, its parameters, the result of its reply, the check-mode result, the VMs asked (in order).
_STATES = {
    "checkpoint": ("change_tracking_checkpoint", checkpoint_params, checkpoint_result, checkpoint_check_mode, "vms"),
    "reference": ("change_tracking_reference", reference_params, reference_result, reference_check_mode, "checkpoints"),
    "absent": ("change_tracking_release", release_params, release_result, release_check_mode, "release"),
}


class ActionModule(ActionBase):
    """Checkpoint, convert to a reference point, or release, on the task's Hyper-V host."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=CHANGE_TRACKING_SPEC, required_if=CHANGE_TRACKING_REQUIRED_IF)[
            1
        ]
        script, params, shape, check_mode, asked = _STATES[args["state"]]
        try:
            check_args(args)  # before any round trip: bad input sends nothing
            if self._task.check_mode:
                result.update(check_mode(args))
            else:
                result.update(shape(run_script(self, script, params(args)), list(args[asked])))
        except ScriptError as exc:
            result.update(exc.to_result())
        except ConnectionFailed as exc:  # failed, not unreachable: the release after it must still run
            result.update(exc.as_failure(), changed=False)
        except ChangeTrackingError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            result.update(failed=True, changed=False, msg=f"{script}.ps1 replied in an unexpected shape ({exc!r})")
        return result
