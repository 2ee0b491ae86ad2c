"""Options and input checks of ``backup.hyperv.group_snapshot``: one volume group's steps on its source host.

The module strings together what ``change_tracking`` and ``shadow_copy`` do one step per task, so that the steps
share a WinRM shell and, where one does not need the controller between them, a round trip (``_pwsh.run_scripts``).
Its options are theirs, validated by their own rules: nothing is decided twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.change_tracking import (
    CRASH_CONSISTENT_FALLBACK,
    change_tracking_argument_spec,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.change_tracking import check_args as check_tracking_args
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    ShadowCopyError,
    check_folders,
    check_vss_wait,
    normal_guid,
    shadow_copy_argument_spec,
)

STATES = ("present", "absent")
STATE_OPTIONS = {"present": ("vms", "since"), "absent": ("release", "snapshot_set_id", "shadow_copies")}


class GroupStepFailed(Exception):
    """A step's script failed on the host after earlier steps changed it; the result keeps what they did."""


def group_snapshot_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.group_snapshot`` (without the shared probe options)."""
    shadow = shadow_copy_argument_spec()
    return {
        "state": {"type": "str", "default": "present", "choices": list(STATES)},
        "vms": {"type": "list", "elements": "str"},
        "since": {"type": "dict"},
        "release": {"type": "dict"},
        "crash_consistent_fallback": change_tracking_argument_spec()["crash_consistent_fallback"],
        **{
            option: shadow[option]
            for option in ("snapshot_set_id", "shadow_copies", "metadata_dir", "expose_root", "vss_wait_timeout")
        },
    }


GROUP_SNAPSHOT_REQUIRED_IF = [("state", "present", ("vms",))]


def group_snapshot_full_spec() -> dict[str, dict[str, Any]]:
    """The module's whole spec: the shared probe options and its own (what the action validates its task with)."""
    return {**probe_argument_spec(), **group_snapshot_argument_spec()}


def tracking_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The ``change_tracking`` options of this state's step (checkpoint for present, release for absent)."""
    if args["state"] == "present":
        return {
            "state": "checkpoint",
            "vms": list(args["vms"]),
            "since": args.get("since"),
            "crash_consistent_fallback": args.get("crash_consistent_fallback", CRASH_CONSISTENT_FALLBACK),
        }
    return {"state": "absent", "release": args.get("release") or {}}


def set_id_of(args: Mapping[str, Any]) -> str | None:
    """The set to release, normalised; ``None`` when the job never created one."""
    return normal_guid(args["snapshot_set_id"], "snapshot_set_id") if args.get("snapshot_set_id") else None


def check_group_args(args: Mapping[str, Any]) -> None:
    """Raise for input the steps would refuse, before any round trip: bad input sends nothing."""
    foreign = [
        option
        for state, options in STATE_OPTIONS.items()
        if state != args["state"]
        for option in options
        if args.get(option) not in (None, {}, [])
    ]
    if foreign:
        raise ShadowCopyError(f"state={args['state']} does not take {', '.join(foreign)}; remove it from the task")
    check_folders(args)
    check_vss_wait(args)
    tracking = tracking_args(args)
    if args["state"] == "present" or tracking["release"]:  # nothing to release is no step, not an error
        check_tracking_args(tracking)
    set_id_of(args)


def left_by_lost_reply(result: Mapping[str, Any], vms: list[str]) -> str:
    """What a creating batch whose reply was lost may have left on the source host, and how to find it: the result
    holds the steps whose replies came (``checkpoint`` once the first batch answered)."""
    if "checkpoint" not in result:
        return (
            f" Recovery checkpoints of {', '.join(vms)} may be left on the host (Hyper-V Manager does not show them): "
            "list them with Get-VMSnapshot -VMName <VM> -SnapshotType Recovery and remove them with Remove-VMSnapshot "
            "before the next backup, or the VM keeps writing to one more .avhdx per disk."
        )
    return (
        " A shadow copy set of the group's volumes may be left on the host: list it with DiskShadow's `list shadows "
        "all` (or vssadmin list shadows) and delete it with `delete shadows set {<set id>}`; the recovery checkpoints "
        "this run knows of are destroyed by the group's release."
    )
