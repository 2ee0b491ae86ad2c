"""Pure decisions of ``backup.hyperv.vm_restore``: input checks, script parameters, refusals and the result.

Words:

* the *source* is the folder on the target Hyper-V host holding a restore point's disks and configuration files,
  as the data mover restored them (``playbooks/restore_vm.yml``);
* ``location: original`` replaces the VM of that name (same VM ID, same folders); ``location: new`` imports a
  copy under a new name and a new VM ID into ``storage_path`` (``Import-VM -Copy -GenerateNewId``,
  https://learn.microsoft.com/powershell/module/hyper-v/import-vm);
* an *incompatibility* is what ``Compare-VM`` (https://learn.microsoft.com/powershell/module/hyper-v/compare-vm)
  reports in its ``Microsoft.HyperV.PowerShell.VMCompatibilityReport`` (``Incompatibilities``: ``MessageId``,
  ``Message``, ``Source``), after the switch mapping was applied to the report, plus what the read script checks
  beside it (vm_restore_read.ps1). Each is said in words an admin acts on (``vm_restore_words.py``).
"""

from __future__ import annotations

import ntpath
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.option_checks import spec_problems
from ansible_collections.backup.hyperv.plugins.plugin_utils.vm_restore_words import describe_incompatibility
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import (
    WindowsPathError,
    check_windows_name,
    check_windows_path,
)

LOCATIONS = ("original", "new")
RUNNING_STATES = ("Running", "Paused", "Saved")  # a VM Hyper-V would have to stop before its files change


class VmRestoreError(ValueError):
    """The restore cannot go on as asked; nothing was changed on the host."""


def vm_restore_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.vm_restore``."""
    return {
        "vm": {"type": "str", "required": True},
        "source": {"type": "str"},
        "location": {"type": "str", "required": True, "choices": list(LOCATIONS)},
        "configuration": {"type": "str"},
        "name": {"type": "str"},
        "storage_path": {"type": "str"},
        "disk_path": {"type": "str"},
        "switches": {"type": "dict", "default": {}},
        "start": {"type": "bool", "default": False},
        "force": {"type": "bool", "default": False},
        "cluster_role": {"type": "bool", "default": True},
        "remove_source": {"type": "bool", "default": True},
        "prepare": {"type": "bool", "default": False},
        "disks_in_place": {"type": "bool", "default": False},
    }


VM_RESTORE_REQUIRED_IF = [("location", "new", ("name", "storage_path"))]
_NEW_ONLY = ("name", "storage_path", "disk_path")


def check_args(args: Mapping[str, Any]) -> None:
    """Raise VmRestoreError for input Windows would refuse or misread; runs before any round trip."""
    _check_steps(args)
    try:
        if args["source"] is not None:
            check_windows_path("source", args["source"], absolute=True, forward_slashes=False)
        if args.get("configuration") is not None:
            check_windows_name("configuration", args["configuration"])
        for option in ("storage_path", "disk_path"):
            if args.get(option) is not None:
                check_windows_path(option, args[option], absolute=True, forward_slashes=False)
    except WindowsPathError as exc:
        raise VmRestoreError(str(exc)) from exc
    if args["location"] == "original":
        foreign = [option for option in _NEW_ONLY if args.get(option) is not None]
        if foreign:
            raise VmRestoreError(
                f"location=original keeps the VM's name and folders and does not take {', '.join(foreign)}; "
                "remove it, or restore with location=new"
            )
    elif args["name"].strip().casefold() == args["vm"].strip().casefold():
        raise VmRestoreError(
            f"name {args['name']!r} is the restored VM's own name: give the copy a name of its own, or restore "
            "with location=original to replace the VM"
        )
    _check_switches(args["switches"])
    for option in ("vm", "name"):
        if args.get(option) is not None and not str(args[option]).strip():
            raise VmRestoreError(f"{option} must be a VM name, not blank")


def _naming(problem: str, variables: Mapping[str, str]) -> str:
    """``problem`` with the playbook variables of the options it names put first (``restore_name: ...``)."""
    named = [variable for option, variable in variables.items() if re.search(rf"\b{re.escape(option)}\b", problem)]
    return f"{', '.join(named)}: {problem}" if named else problem


def option_problems(options: Mapping[str, Any], variables: Mapping[str, str]) -> list[str]:
    """The refusals of the options ``{option: value}`` (None: left out) by this module's argument spec and
    ``check_args``, in its words, each led by the playbook variables (``{option: variable}``) of the options it
    names; empty when the module takes them. For a playbook that asks before the module's task is reached
    (``vm_restore_option_problems``)."""
    given = {option: value for option, value in options.items() if value is not None}
    problems, validated = spec_problems(vm_restore_argument_spec(), given, required_if=VM_RESTORE_REQUIRED_IF)
    if not problems:
        try:
            check_args(validated)
        except VmRestoreError as exc:
            problems = [str(exc)]
    return [_naming(problem, variables) for problem in problems]


def _check_steps(args: Mapping[str, Any]) -> None:
    """prepare (turn the VM off before its disks are rolled back) and disks_in_place (register it over them) are the
    two steps of a quick rollback around the data mover (playbooks/restore_vm.yml); only prepare reads no source."""
    if args["location"] == "new" and (args["prepare"] or args["disks_in_place"]):
        raise VmRestoreError(
            "prepare and disks_in_place replace the VM of the original location: set location=original, or leave "
            "them out to import a new VM"
        )
    if args["source"] is None and not args["prepare"]:
        raise VmRestoreError("source is required: the folder on this host holding the restored configuration files")


def _check_switches(switches: Mapping[str, Any]) -> None:
    folded = [str(source).casefold() for source in switches]
    twice = sorted({str(s) for s in switches if folded.count(str(s).casefold()) > 1})
    if twice:
        raise VmRestoreError(f"switches maps a switch more than once (switch names are case-blind): {', '.join(twice)}")
    for source, target in switches.items():
        if not str(source).strip():
            raise VmRestoreError("switches: a source switch name is blank")
        if target is not None and (not isinstance(target, str) or not target.strip()):
            raise VmRestoreError(
                f"switches.{source} must name a virtual switch of the target host, or be null to leave the "
                f"adapter disconnected; got {target!r}"
            )


def script_params(args: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters vm_restore_read.ps1 and vm_restore_apply.ps1 share."""
    return {
        "Vm": args["vm"],
        "Source": args["source"] or "",
        "Location": args["location"],
        "Configuration": args.get("configuration") or "",
        "Name": args.get("name") or "",
        "VirtualMachinePath": args.get("storage_path") or "",
        "VhdPath": args.get("disk_path") or args.get("storage_path") or "",
        "Switches": [{"Source": source, "Target": target} for source, target in args["switches"].items()],
        "Prepare": args["prepare"],
        "InPlace": args["disks_in_place"],
    }


def apply_params(args: Mapping[str, Any], read: Mapping[str, Any]) -> dict[str, Any]:
    """What vm_restore_apply.ps1 also needs: whether to stop, cluster, start and clean up."""
    existing = read["Existing"]
    return {
        **script_params(args),
        "Stop": bool(existing and existing["State"] in RUNNING_STATES),
        "ClusterRole": _cluster_role(args, read),
        "Start": args["start"],
        "RemoveSource": args["remove_source"],
    }


def _cluster_role(args: Mapping[str, Any], read: Mapping[str, Any]) -> bool:
    """A cluster role after the import: as it was (original), or on a cluster node when asked (new)."""
    if args["location"] == "original":
        return bool(read["Existing"] and read["Existing"]["Clustered"])
    return bool(args["cluster_role"] and read["Host"]["Cluster"])


def refusals(args: Mapping[str, Any], read: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each reason the restore cannot go on, with the words to act on; empty when it can."""
    host = read["Host"]["ComputerName"]
    found = [describe_incompatibility(entry, read["Host"]) for entry in read["Incompatibilities"] or []]
    existing = read["Existing"]
    if args["location"] == "original" and existing and existing["State"] in RUNNING_STATES and not args["force"]:
        found.append(
            {
                "kind": "running",
                "message_id": None,
                "message": f"VM '{existing['Name']}' is {existing['State']}",
                "subject": existing["Name"],
                "action": f"VM '{existing['Name']}' is {existing['State'].lower()} on {host}: shut it down "
                "(Stop-VM) or set force to turn it off; its disks and configuration are replaced",
            }
        )
    return found


def vm_of(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A VM as the module returns it (``vm``, ``diff``), from a script's VM entry."""
    if not entry:
        return None
    return {
        "name": entry["Name"],
        "id": entry["Id"],
        "state": entry["State"],
        "version": entry["Version"],
        "clustered": bool(entry["Clustered"]),
        "configuration_location": entry["ConfigurationLocation"],
        "disks": [str(disk) for disk in entry["Disks"] or []],
        "adapters": [{"name": a["Name"], "switch": a["Switch"]} for a in entry["Adapters"] or []],
    }


def disk_folder(vm: Mapping[str, Any] | None) -> str | None:
    """The folder of a VM's disks (the read refuses a VM to replace whose disks are in several folders)."""
    disks = (vm or {}).get("disks") or []
    return ntpath.dirname(disks[0]) if disks else None


def planned_vm(args: Mapping[str, Any], read: Mapping[str, Any]) -> dict[str, Any]:
    """The VM check mode says the restore would make (the read's planned VM, started and clustered as asked)."""
    planned = vm_of(read["Planned"]) or {}
    return {**planned, "state": "Running" if args["start"] else "Off", "clustered": _cluster_role(args, read)}


def refusal_message(found: list[dict[str, Any]]) -> str:
    lines = "; ".join(entry["action"] for entry in found)
    return f"nothing was changed: the restore cannot go on ({len(found)} problem(s)): {lines}"
