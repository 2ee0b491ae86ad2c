"""Desired state of Windows features (``backup.hyperv.windows_feature``): argument spec, current state, plan.

Words: a *feature* is a Windows Server role, role service or feature as ``Get-WindowsFeature``
names it (``Hyper-V``, ``FS-Data-Deduplication``, ``Failover-Clustering``); its *install state*
is the ``InstallState`` Windows reports: ``Installed``, ``Available``, ``Removed`` (payload
deleted from the side-by-side store, a source is needed to install it), ``InstallPending`` and
``UninstallPending`` (the change waits for a reboot). A pending install counts as present and a
pending removal as absent, so a second run before the reboot changes nothing.
(https://learn.microsoft.com/dotnet/api/microsoft.windows.servermanager.commands.installstate)

The plan has at most one ``install_features`` and one ``uninstall_features`` step, so the apply
script makes one Install-WindowsFeature / Uninstall-WindowsFeature call for all names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import Plan, PlanError
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError, check_windows_path

PRESENT_STATES = frozenset({"Installed", "InstallPending"})
# Feature names are letters, digits, '-', '_' and '.'; no wildcards, which Get-WindowsFeature would expand.
_FEATURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A WIM source is "WIM:<path of the .wim>:<image index>" (Install-WindowsFeature, parameter -Source,
# https://learn.microsoft.com/powershell/module/servermanager/install-windowsfeature).
_WIM_SOURCE = re.compile(r"^wim:(?P<path>.+?)(?::\d+)?$", re.IGNORECASE | re.DOTALL)


def feature_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.windows_feature`` (without the shared probe options)."""
    return {
        "name": {"type": "list", "elements": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "include_sub_features": {"type": "bool", "default": False},
        "include_management_tools": {"type": "bool", "default": False},
        "source": {"type": "str"},
    }


def validate_feature_args(args: Mapping[str, Any]) -> list[str]:
    """The requested names, checked and without duplicates (case-blind, first spelling kept)."""
    names: list[str] = []
    seen: set[str] = set()
    for name in args["name"]:
        name = name.strip()
        if not _FEATURE_NAME.match(name):
            raise PlanError(
                f"name: {name!r} is not a Windows feature name (letters, digits, '.', '-', '_'; no wildcards)"
            )
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    if not names:
        raise PlanError("name: give at least one feature")
    if args.get("source") and args["state"] == "absent":
        raise PlanError("source: only used to install features (state=present)")
    if args.get("source"):
        check_source(args["source"])
    return names


def check_source(source: str) -> None:
    """Refuse a source path Windows would refuse or change (windows_path); a WIM source's path is checked."""
    wim = _WIM_SOURCE.match(source)
    try:
        check_windows_path("source", wim["path"] if wim else source)
    except WindowsPathError as exc:
        raise PlanError(str(exc)) from exc


def read_params(names: Sequence[str], args: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of windows_feature_read.ps1."""
    return {"Name": list(names), "IncludeSubFeatures": bool(args["include_sub_features"])}


def parse_feature_state(reply: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Normalise the read reply into ``{"features": [{name, display_name, install_state, sub_features}]}``.

    Features come back in the order ``names`` asks for them; a name Windows does not know is an error
    (Get-WindowsFeature returns nothing for it), raised before anything is applied.
    """
    by_name = {str(item["Name"]).casefold(): item for item in reply["features"]}
    unknown = [name for name in names if name.casefold() not in by_name]
    if unknown:
        raise PlanError(f"Windows does not know the feature(s) {', '.join(unknown)} (Get-WindowsFeature found none)")
    return {"features": [_feature(by_name[name.casefold()]) for name in names]}


def _feature(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": str(item["Name"]),
        "display_name": item.get("DisplayName"),
        "install_state": str(item["InstallState"]),
        "sub_features": [
            {"name": str(sub["Name"]), "install_state": str(sub["InstallState"])}
            for sub in item.get("SubFeatures") or []
        ],
    }


def is_present(install_state: str) -> bool:
    return install_state in PRESENT_STATES


def plan_features(current: Mapping[str, Any], args: Mapping[str, Any]) -> Plan:
    """Steps that bring the features to ``args['state']``; ``after`` is ``current`` as it would be."""
    features = current["features"]
    want_present = args["state"] == "present"
    if want_present:
        pending = [f["name"] for f in features if not _complete(f, args["include_sub_features"])]
    else:
        pending = [f["name"] for f in features if is_present(f["install_state"])]
    steps = [_step(pending, args)] if pending else []
    after = {"features": [_after(feature, pending, want_present) for feature in features]}
    return Plan(steps=steps, before={"features": [dict(f) for f in features]}, after=after)


def _complete(feature: Mapping[str, Any], with_sub_features: bool) -> bool:
    """Installed, and with every sub-feature too when they were asked for."""
    if not is_present(feature["install_state"]):
        return False
    return not with_sub_features or all(is_present(sub["install_state"]) for sub in feature["sub_features"])


def _step(names: list[str], args: Mapping[str, Any]) -> dict[str, Any]:
    if args["state"] == "present":
        return {
            "action": "install_features",
            "names": names,
            "include_sub_features": bool(args["include_sub_features"]),
            "include_management_tools": bool(args["include_management_tools"]),
            "source": args.get("source") or None,
        }
    return {
        "action": "uninstall_features",
        "names": names,
        "include_management_tools": bool(args["include_management_tools"]),
    }


def _after(feature: Mapping[str, Any], changing: list[str], want_present: bool) -> dict[str, Any]:
    """The feature as the plan leaves it: planned states are the settled ones (Installed / Available)."""
    if feature["name"] not in changing:
        return dict(feature)
    state = "Installed" if want_present else "Available"
    subs = feature["sub_features"]
    if want_present:
        subs = [{**sub, "install_state": "Installed"} for sub in subs] if subs else subs
    return {**feature, "install_state": state, "sub_features": subs}
