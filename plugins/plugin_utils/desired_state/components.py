"""Desired state of the proxy's components (R2-R4): current state from the read script, and the plan.

Words: a component's *marker* is the registry value
``HKLM:\\SOFTWARE\\backup.hyperv\\Components\\<name>\\Version`` the apply script writes once the
component's files are in place, so the installed version is known without trusting file metadata; the
same key's other values are its *record* (role and where it lives, component_record.py), which a record
an older version wrote lacks: it is written again, as a change;
*source* and *destination* are the folders of the manifest (files are copied from the first to the
second). The state is ``{"components": {name: component}}``; ``before``/``after`` show it without
the source folder's hashes, which only the planner needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.component_record import (
    component_location,
    recorded_location,
    stale_files,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import canonical_account
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import Plan, PlanError, same_version
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.recovery import (
    applied_recovery,
    recovery_terms,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.service import (
    firewall_matches,
    retire_service_steps,
    service_plan,
)


def read_params(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of proxy_components_read.ps1: what to look at for each component."""
    return {
        "Components": [
            {
                "Name": c["name"],
                "Source": c["source"],
                "Destination": c["destination"],
                "Files": [f["path"] for f in c["files"]],
                "Service": c["service"]["name"] if c["service"] else None,
                "Parameters": sorted(c["service"]["parameters"]) if c["service"] else [],
                "FirewallRule": c["firewall"]["name"] if c["firewall"] else None,
            }
            for c in manifest["components"]
        ]
    }


def parse_components_state(reply: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise the read script's reply (Windows property names) into the planner's state."""
    components = {}
    for item in reply.get("components") or []:
        components[item["Name"]] = {
            "version": item.get("Version"),
            "record": recorded_location(item.get("Record")),
            "files": {f["Path"]: _file_state(f) for f in item.get("Files") or []},
            "source_files": {f["Path"]: _file_state(f) for f in item.get("SourceFiles") or []},
            "service": _service_state(item.get("Service")),
            "former_service": _service_state(item.get("FormerService")),
            "firewall": _firewall_state(item.get("FirewallRule")),
            "programs": [f"{p.get('Path')} (process {p.get('Id')})" for p in item.get("Programs") or []],
        }
    return {"components": components}


def plan_components(current: Mapping[str, Any], manifest: Mapping[str, Any], state: str) -> Plan:
    """Steps that converge the host to ``manifest`` (``state: present``) or remove it (``absent``)."""
    known = current.get("components") or {}
    before = view({name: known.get(name) or _missing(c) for name, c in _by_name(manifest).items()})
    steps: list[dict[str, Any]] = []
    after: dict[str, Any] = {}
    ordered = manifest["components"] if state == "present" else list(reversed(manifest["components"]))
    for component in ordered:
        found = known.get(component["name"]) or _missing(component)
        planner = _plan_present if state == "present" else _plan_absent
        component_steps, after[component["name"]] = planner(found, component)
        steps.extend(component_steps)
    return Plan(steps=steps, before=before, after=view({c["name"]: after[c["name"]] for c in manifest["components"]}))


def view(components: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What diff mode shows (and what ``after`` holds): each component without its source hashes and programs."""
    hidden = ("source_files", "programs")
    return {"components": {name: {k: v for k, v in c.items() if k not in hidden} for name, c in components.items()}}


def _plan_present(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    upgrade = not same_version(found.get("version"), wanted["version"])
    location = component_location(wanted)
    to_copy = [f for f in wanted["files"] if upgrade or not _file_current(found, f)]
    stale = stale_files(found.get("record"), wanted)
    _require_sources(found, wanted, to_copy)
    if to_copy or stale:
        _require_no_program(found, wanted, "replaced")
    install = _install_steps(wanted, to_copy, upgrade or found.get("record") != location, location)
    if stale:  # the files of the installed version this one no longer ships, before the new ones go in
        install.insert(0, {"action": "remove_files", "destination": wanted["destination"], "files": stale})
    firewall: list[dict[str, Any]] = []
    if wanted["firewall"] and not firewall_matches(found.get("firewall"), wanted["firewall"]):
        firewall.append({"action": "set_firewall_rule", **wanted["firewall"]})
    steps = retire_service_steps(found.get("former_service"))
    if wanted["service"] is None:  # files, record and firewall rule only: nothing runs between jobs
        steps += install + firewall
    else:
        steps += service_plan(found.get("service"), wanted["service"], install, firewall, bool(to_copy or stale))
    return steps, {**_present_after(found, wanted, to_copy), "record": location}


def _install_steps(
    wanted: Mapping[str, Any], to_copy: list[dict[str, Any]], record: bool, location: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Copy the files that differ, then write the record (version and location) when it differs."""
    steps: list[dict[str, Any]] = []
    if to_copy:
        files = [f["path"] for f in to_copy]
        steps.append(
            {
                "action": "copy_files",
                "component": wanted["name"],
                "source": wanted["source"],
                "destination": wanted["destination"],
                "files": files,
            }
        )
    if record:
        steps.append(
            {
                "action": "set_component_version",
                "component": wanted["name"],
                "version": wanted["version"],
                "record": location,
            }
        )
    return steps


def _plan_absent(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    steps = retire_service_steps(found.get("service")) + retire_service_steps(found.get("former_service"))
    if found.get("firewall"):
        steps.append({"action": "remove_firewall_rule", "name": found["firewall"]["name"]})
    present = [path for path, state in (found.get("files") or {}).items() if state]
    if present:
        _require_no_program(found, wanted, "removed")
        steps.append({"action": "remove_files", "destination": wanted["destination"], "files": present})
    if found.get("version") is not None or found.get("record") is not None:
        steps.append({"action": "remove_component_version", "component": wanted["name"]})
    return steps, _missing(wanted)


def _present_after(
    found: Mapping[str, Any], wanted: Mapping[str, Any], to_copy: list[dict[str, Any]]
) -> dict[str, Any]:
    files = {}
    for entry in wanted["files"]:
        if entry in to_copy:
            source = (found.get("source_files") or {}).get(entry["path"]) or {}
            files[entry["path"]] = {
                "sha256": entry["sha256"] or source.get("sha256"),
                "version": entry["version"] or source.get("version"),
            }
        else:
            files[entry["path"]] = dict(found["files"][entry["path"]])
    firewall = found.get("firewall")
    if wanted["firewall"]:
        firewall = {**wanted["firewall"], "enabled": True, "direction": "inbound", "action": "allow"}
    service = _service_after(found.get("service"), wanted["service"])
    return {
        "version": wanted["version"],
        "files": files,
        "service": service,
        "former_service": None,
        "firewall": firewall,
    }


def _service_after(found: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if wanted is None:
        return None
    service = dict(wanted)
    if service["description"] is None:  # not managed: whatever the host has stays
        service["description"] = (found or {}).get("description")
    service["parameters"] = {**((found or {}).get("parameters") or {}), **service["parameters"]}
    service["recovery"] = applied_recovery(wanted["recovery"])
    return service


def _file_current(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Present, and equal to the declared hash/version or else to the source file."""
    state = (found.get("files") or {}).get(wanted["path"])
    if not state:
        return False
    source = (found.get("source_files") or {}).get(wanted["path"]) or {}
    expected_hash = wanted["sha256"] or source.get("sha256")
    if expected_hash and (state.get("sha256") or "").lower() != expected_hash.lower():
        return False
    return not wanted["version"] or same_version(state.get("version"), wanted["version"])


def _require_sources(found: Mapping[str, Any], wanted: Mapping[str, Any], to_copy: list[dict[str, Any]]) -> None:
    """A file to copy must exist in the source folder (when the host said which exist)."""
    sources = found.get("source_files")
    if not sources:
        if to_copy and sources is not None:
            raise PlanError(f"component {wanted['name']}: source folder {wanted['source']} is missing or empty")
        return
    missing = [f["path"] for f in to_copy if not sources.get(f["path"])]
    if missing:
        raise PlanError(
            f"component {wanted['name']}: {', '.join(missing)} must be copied but is missing from {wanted['source']}"
        )
    for entry in to_copy:
        source = sources[entry["path"]]
        if entry["sha256"] and source.get("sha256") and source["sha256"].lower() != entry["sha256"]:
            _wrong_source(wanted, entry, "SHA-256", source["sha256"].lower(), entry["sha256"])
        if entry["version"] and source.get("version") and not same_version(source["version"], entry["version"]):
            _wrong_source(wanted, entry, "file version", source["version"], entry["version"])


def _require_no_program(found: Mapping[str, Any], wanted: Mapping[str, Any], done: str) -> None:
    """No program runs from the component's folder but its own service (which the plan stops first): Windows keeps
    a running program's executable and DLLs from being replaced or deleted (a sharing violation halfway through
    the copy), and a data mover job would read an engine replaced under it."""
    programs = found.get("programs") or []
    if programs:
        raise PlanError(
            f"component {wanted['name']}: its files under {wanted['destination']} would be {done} while programs "
            f"run from them: {', '.join(programs)}. Nothing was changed. A data mover job runs the component's "
            "python.exe until it ends, and a backup run's data mover server until the run's last job or until it "
            "has waited backup_data_mover_idle seconds for one: wait for them to end (Get-ScheduledTask -TaskPath "
            "'\\backup.hyperv\\' lists them) or stop the programs, then run this again."
        )


def _wrong_source(wanted: Mapping[str, Any], entry: Mapping[str, Any], what: str, found: str, declared: str) -> None:
    raise PlanError(
        f"component {wanted['name']}: {wanted['source']}\\{entry['path']} has {what} {found}, "
        f"the manifest says {declared}"
    )


def _missing(component: Mapping[str, Any]) -> dict[str, Any]:
    """A component the host did not report at all: nothing installed."""
    files = {f["path"]: None for f in component["files"]}
    return {"version": None, "record": None, "files": files, "service": None, "former_service": None, "firewall": None}


def _by_name(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["name"]: c for c in manifest["components"]}


def _file_state(item: Mapping[str, Any]) -> dict[str, Any] | None:
    if not item.get("Exists"):
        return None
    sha256 = item.get("Sha256")
    return {"sha256": sha256.lower() if sha256 else None, "version": item.get("FileVersion") or None}


_START_MODES = {"auto": "auto", "manual": "manual", "disabled": "disabled", "boot": "boot", "system": "system"}


def _service_state(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Win32_Service properties (plus DependOnService, Parameters, Recovery) as planner terms."""
    if not item:
        return None
    mode = _START_MODES.get(str(item.get("StartMode") or "").lower(), "unknown")
    if mode == "auto" and item.get("DelayedAutoStart"):
        mode = "delayed_auto"
    return {
        "name": item.get("Name"),
        "display_name": item.get("DisplayName"),
        "description": item.get("Description") or None,
        "binary_path": (item.get("PathName") or "").strip() or None,
        "start_mode": mode,
        "account": canonical_account(item.get("StartName")),
        "state": str(item.get("State") or "unknown").strip().lower().replace(" ", "_"),
        "dependencies": list(item.get("DependOnService") or []),
        "recovery": recovery_terms(item.get("Recovery")),
        "parameters": dict(item.get("Parameters") or {}),
    }


def _firewall_state(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Get-NetFirewallRule + Get-NetFirewallPortFilter properties as planner terms."""
    if not item:
        return None
    ports = item.get("LocalPort")
    port = ports[0] if isinstance(ports, list) and len(ports) == 1 else ports
    profiles = sorted({p.strip().lower() for p in str(item.get("Profile") or "").split(",") if p.strip()})
    return {
        "name": item.get("Name"),
        "display_name": item.get("DisplayName"),
        "enabled": str(item.get("Enabled")).lower() == "true",
        "direction": str(item.get("Direction") or "").lower(),
        "action": str(item.get("Action") or "").lower(),
        "protocol": str(item.get("Protocol") or "").upper(),
        "local_port": int(port) if str(port).isdigit() else port,
        "profiles": profiles,
    }
