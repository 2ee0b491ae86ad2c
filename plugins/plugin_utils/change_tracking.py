"""Pure decisions of ``backup.hyperv.change_tracking``: input checks, script parameters, results.

Words (Hyper-V resilient change tracking, RCT; the WMI classes are cited in the scripts and docs/backup.md):

* a *recovery checkpoint* is a snapshot of type recovery (``Msvm_VirtualSystemSnapshotService.CreateSnapshot``,
  SnapshotType 32768): the VM goes on writing into a new ``.avhdx`` per disk, the files it used before are
  *frozen*, and those are the files the backup reads;
* a *reference point* (``Msvm_VirtualSystemReferencePoint``) is what a recovery checkpoint becomes once converted
  (``ConvertToReferencePoint``); it holds one *RCT id* per disk, an opaque string the host alone understands;
* the *changed ranges* of a disk since an RCT id are what ``GetVirtualDiskChanges`` answers: ``[offset, length]``
  pairs in bytes, or a *reason* when they cannot be had and the disk must be read in full.
* a checkpoint's *consistency* is ``application`` (the guest froze its applications through its VSS) or ``crash``
  (the disks as a power cut would leave them), taken when the guest cannot quiesce and the fallback is allowed
  (``Msvm_VirtualSystemSnapshotSettingData.ConsistencyLevel`` 1 and 2).

RCT ids are opaque: the collection stores and passes them back, never parses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

STATES = ("checkpoint", "reference", "absent")
# The option each state needs (and the only state-specific one it accepts).
STATE_OPTIONS = {"checkpoint": "vms", "reference": "checkpoints", "absent": "release"}
CHECK_MODE_REASON = "check mode"
# Take a crash-consistent checkpoint when the application-consistent one fails (the guest cannot quiesce), as the
# products this collection stands in for do by default; the VM's result says which it got.
CRASH_CONSISTENT_FALLBACK = True


class ChangeTrackingError(ValueError):
    """The request cannot be served as given; nothing was sent to the host."""


def change_tracking_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.change_tracking`` (without the shared probe options)."""
    return {
        "state": {"type": "str", "default": "checkpoint", "choices": list(STATES)},
        "vms": {"type": "list", "elements": "str"},
        "since": {"type": "dict"},
        "checkpoints": {"type": "dict"},
        "release": {"type": "dict"},
        "crash_consistent_fallback": {"type": "bool", "default": CRASH_CONSISTENT_FALLBACK},
    }


CHANGE_TRACKING_REQUIRED_IF = [("state", state, (option,)) for state, option in STATE_OPTIONS.items()]


def check_args(args: Mapping[str, Any]) -> None:
    """Raise ChangeTrackingError for input the host would refuse or misread; runs before any round trip."""
    state = args["state"]
    foreign = [
        option
        for option in (*STATE_OPTIONS.values(), "since")
        if args.get(option) is not None and option not in _options_of(state)
    ]
    if foreign:
        raise ChangeTrackingError(f"state={state} does not take {', '.join(foreign)}; remove it from the task")
    {"checkpoint": _check_checkpoint, "reference": _check_reference, "absent": _check_release}[state](args)


def _options_of(state: str) -> tuple[str, ...]:
    return (STATE_OPTIONS[state], "since") if state == "checkpoint" else (STATE_OPTIONS[state],)


def _check_checkpoint(args: Mapping[str, Any]) -> None:
    vms = list(args["vms"])
    _check_names("vms", vms)
    folded = {name.casefold() for name in vms}
    since = args.get("since") or {}
    strangers = sorted(name for name in since if str(name).casefold() not in folded)
    if strangers:
        raise ChangeTrackingError(f"since names VMs that are not in vms: {', '.join(strangers)}")
    for vm, disks in since.items():
        if disks is None:
            continue
        if not isinstance(disks, Mapping):
            raise ChangeTrackingError(f"since.{vm} must map disk file names to RCT ids, got {type(disks).__name__}")
        for disk, rct_id in disks.items():
            if "\\" in str(disk) or "/" in str(disk) or not str(disk).strip():
                raise ChangeTrackingError(f"since.{vm}: {disk!r} is not a disk file name (give the name, not a path)")
            _check_id(f"since.{vm}.{disk}", rct_id)


def _check_reference(args: Mapping[str, Any]) -> None:
    checkpoints = args["checkpoints"]
    _check_names("checkpoints", list(checkpoints))
    for vm, checkpoint in checkpoints.items():
        _check_id(f"checkpoints.{vm}", checkpoint)


def _check_release(args: Mapping[str, Any]) -> None:
    release = args["release"]
    _check_names("release", list(release))
    for vm, entry in release.items():
        entry = entry or {}
        if not isinstance(entry, Mapping):
            raise ChangeTrackingError(f"release.{vm} must be a mapping of checkpoint, keep and drop")
        unknown = sorted(set(entry) - {"checkpoint", "keep", "drop"})
        if unknown:
            raise ChangeTrackingError(f"release.{vm} takes checkpoint, keep and drop, not {', '.join(unknown)}")
        for key in ("checkpoint", "keep", "drop"):
            if entry.get(key) is not None:
                _check_id(f"release.{vm}.{key}", entry[key])
        if entry.get("keep") is not None and entry.get("keep") == entry.get("drop"):
            raise ChangeTrackingError(f"release.{vm}: keep and drop name the same reference point")


def _check_names(option: str, names: Sequence[Any]) -> None:
    if not names:
        raise ChangeTrackingError(f"{option} names no VM")
    blank = [name for name in names if not isinstance(name, str) or not name.strip()]
    if blank:
        raise ChangeTrackingError(f"{option}: VM names must be non-empty text, got {blank!r}")
    folded = [name.casefold() for name in names]
    twice = sorted({name for name in names if folded.count(name.casefold()) > 1})
    if twice:
        raise ChangeTrackingError(
            f"{option} names a VM more than once (Hyper-V names are case-blind): {', '.join(twice)}"
        )


def _check_id(where: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ChangeTrackingError(f"{where} must be a non-empty id as the module returned it, got {value!r}")


def _since_of(since: Mapping[str, Any], vm: str) -> dict[str, str]:
    """The RCT ids recorded for ``vm`` (VM names are case-blind)."""
    for name, disks in since.items():
        if name.casefold() == vm.casefold():
            return dict(disks or {})
    return {}


def checkpoint_params(args: Mapping[str, Any]) -> dict[str, Any]:
    since = args.get("since") or {}
    return {
        "Vms": [{"Name": vm, "Since": _since_of(since, vm)} for vm in args["vms"]],
        "CrashConsistentFallback": bool(args.get("crash_consistent_fallback", CRASH_CONSISTENT_FALLBACK)),
    }


def reference_params(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"Checkpoints": [{"Vm": vm, "Checkpoint": cp} for vm, cp in args["checkpoints"].items()]}


def release_params(args: Mapping[str, Any]) -> dict[str, Any]:
    vms = []
    for vm, entry in args["release"].items():
        entry = entry or {}
        vms.append(
            {"Name": vm, "Checkpoint": entry.get("checkpoint"), "Keep": entry.get("keep"), "Drop": entry.get("drop")}
        )
    return {"Vms": vms}


def _entries(reply: Mapping[str, Any], asked: Sequence[str], script: str) -> list[Mapping[str, Any]]:
    """The reply's entries, one per asked VM in order; a reply of another length is a broken script."""
    entries = list(reply["vms"] or [])
    if len(entries) != len(asked):
        raise KeyError(f"{script} answered {len(entries)} VMs for {len(asked)} asked")
    return entries


# CreateSnapshot's "invalid state for this operation": the VM is between states (starting, stopping, saving, pausing,
# resuming) or in a Critical one (its storage unreachable); Hyper-V checkpoints a VM that is running, off, saved or
# paused (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-computersystem, EnabledState).
INVALID_STATE = "CreateSnapshot returned 32775"
INVALID_STATE_REMEDY = (
    " Hyper-V takes a checkpoint only of a VM that is running, off, saved or paused: this one was starting, stopping,"
    " saving, pausing or resuming, or its storage was unreachable (a Critical state; Get-VM shows which). The next run"
    " backs it up once its state has settled."
)


def _checkpoint_message(message: Any) -> Any:
    """The script's words for a VM that got no checkpoint, with what to do when Hyper-V refused it for its state."""
    if isinstance(message, str) and INVALID_STATE in message:
        return message + INVALID_STATE_REMEDY
    return message


def checkpoint_result(reply: Mapping[str, Any], vms: Sequence[str]) -> dict[str, Any]:
    """``{changed, vms: {name: {id, version, checkpoint, consistency, consistency_msg, failed, msg, disks}}}``
    from the checkpoint script."""
    result = {}
    for vm, entry in zip(vms, _entries(reply, vms, "change_tracking_checkpoint")):
        result[vm] = {
            "id": entry["Id"],
            "version": entry["Version"],
            "checkpoint": entry["Checkpoint"],
            "consistency": entry["Consistency"],
            "consistency_msg": entry["ConsistencyMessage"],
            "failed": bool(entry["Failed"]),
            "msg": _checkpoint_message(entry["Message"]),
            "disks": [
                {
                    "path": disk["Path"],
                    "name": disk["Name"],
                    "size": disk["Size"],
                    "since": disk["Since"],
                    "ranges": None if disk["Ranges"] is None else [[int(o), int(n)] for o, n in disk["Ranges"]],
                    "reason": disk["Reason"],
                }
                for disk in entry["Disks"] or []
            ],
        }
    return {"changed": any(entry["checkpoint"] for entry in result.values()), "vms": result}


def checkpoint_check_mode(args: Mapping[str, Any]) -> dict[str, Any]:
    """What check mode reports without a round trip: no checkpoint; each disk named in ``since``, no ranges.

    ``changed`` says what a real run would do: every VM found on version 6.2 or later gets a checkpoint.
    """
    since = args.get("since") or {}
    vms = {
        vm: {
            "id": None,
            "version": None,
            "checkpoint": None,
            "consistency": None,
            "consistency_msg": None,
            "failed": False,
            "msg": None,
            "disks": [_check_mode_disk(name, rct_id) for name, rct_id in _since_of(since, vm).items()],
        }
        for vm in args["vms"]
    }
    return {"changed": True, "vms": vms}


def _check_mode_disk(name: str, rct_id: str) -> dict[str, Any]:
    return {"path": None, "name": name, "size": None, "since": rct_id, "ranges": None, "reason": CHECK_MODE_REASON}


def reference_result(reply: Mapping[str, Any], vms: Sequence[str]) -> dict[str, Any]:
    """``{changed, vms: {name: {reference_point, failed, msg, change_ids, disks}}}`` from the reference script."""
    result = {}
    for vm, entry in zip(vms, _entries(reply, vms, "change_tracking_reference")):
        disks = [{"path": d["Path"], "name": d["Name"], "change_id": d["ChangeId"]} for d in entry["Disks"] or []]
        result[vm] = {
            "reference_point": entry["ReferencePoint"],
            "failed": bool(entry["Failed"]),
            "msg": entry["Message"],
            # A disk without an RCT id (not VHDX) has none to record: the next run reads it in full.
            "change_ids": {disk["name"]: disk["change_id"] for disk in disks if disk["change_id"]},
            "disks": disks,
        }
    return {"changed": any(entry["reference_point"] for entry in result.values()), "vms": result}


def reference_check_mode(args: Mapping[str, Any]) -> dict[str, Any]:
    """No round trip: a real run converts every checkpoint still there, so ``changed`` is true."""
    vms = {
        vm: {"reference_point": None, "failed": False, "msg": None, "change_ids": {}, "disks": []}
        for vm in args["checkpoints"]
    }
    return {"changed": True, "vms": vms}


def release_result(reply: Mapping[str, Any], vms: Sequence[str]) -> dict[str, Any]:
    """``{changed, released: {vm: {checkpoints, reference_points}}, not_on_host: [vm]}`` from the release script.

    ``not_on_host``: the VMs of which nothing was on this host, neither the VM nor what the entry named: moved to
    another node of the cluster during the backup (a live migration takes its checkpoints and reference points
    along), so what it holds is released where it runs now, not taken for destroyed."""
    entries = list(zip(vms, _entries(reply, vms, "change_tracking_release")))
    released = {
        vm: {
            "checkpoints": list(entry["DestroyedCheckpoints"] or []),
            "reference_points": list(entry["DestroyedReferencePoints"] or []),
        }
        for vm, entry in entries
    }
    changed = any(entry["checkpoints"] or entry["reference_points"] for entry in released.values())
    not_on_host = [vm for vm, entry in entries if entry.get("OnHost") is False]
    return {"changed": changed, "released": released, "not_on_host": not_on_host}


def release_check_mode(args: Mapping[str, Any]) -> dict[str, Any]:
    """Check mode cannot know what is still there without a read: nothing is reported as released."""
    released = {vm: {"checkpoints": [], "reference_points": []} for vm in args["release"]}
    return {"changed": False, "released": released, "not_on_host": []}


def ready_vms(vms: Sequence[str], checkpoint: Any) -> list[str]:
    """The VMs that go on after the checkpoint step (a VM that failed there fails alone), in ``vms``'s order."""
    described = step_vms(checkpoint)
    return [vm for vm in vms if vm in described and not described[vm].get("failed")]


def checkpoints_to_convert(checkpoint: Any) -> dict[str, str]:
    """``{vm: recovery checkpoint}`` for the VMs that got one, to convert into reference points."""
    return {vm: str(entry["checkpoint"]) for vm, entry in step_vms(checkpoint).items() if entry.get("checkpoint")}


def step_vms(result: Any) -> Mapping[str, Any]:
    """``vms`` of a change_tracking result (checkpoint or reference); empty when the step was skipped or failed
    before it."""
    vms = result.get("vms") if isinstance(result, Mapping) else None
    return vms if isinstance(vms, Mapping) else {}
