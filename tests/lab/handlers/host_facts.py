"""Handler of `host_facts.ps1`: the hyperv_offhost facts document, from the estate and the host's state.

Same keys, in the same order, as the script writes them; every section is computed on its own
and a failure (an estate `section_errors` entry, or a `missing_modules` module a section needs)
becomes the script's error object `{"error": {"message", "category", "exception"}}`. Params:
`ProbeTimeout` (the read test of a LUN that never answers reports it), `Components` (services to
report, absent ones left out, after the component records `proxy_components` wrote).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.handlers.host_facts_context import FactsContext, SectionFailure
from lab.handlers.host_facts_identity import identity_section, trusts_section
from lab.handlers.host_facts_storage import cluster_section, dedup_section, disks_section, smb_section, vms_section
from lab.windows import features
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState, service_entry
from lab.windows.pe_version import file_version
from lab.windows.services import service_executable

SCHEMA_VERSION = "1.0"
PROVIDER_TYPES = {0: "unknown", 1: "system", 2: "software", 3: "hardware"}
FEATURE_ORDER = ("FS-Data-Deduplication", "Hyper-V", "Failover-Clustering")  # Get-WindowsFeature's order
_VIRTUAL = re.compile(r"Virtual Machine|VMware|KVM|QEMU|HVM domU|VirtualBox", re.IGNORECASE)


def _file_version(context: FactsContext, windows_path: str | None) -> str | None:
    """Get-FileVersion of the script: null without a file, 0.0.0.0 for a file without a version resource."""
    if not windows_path:
        return None
    try:
        path = context.files.local_path(windows_path)
    except HostPathError:
        return None
    if not path.is_file():
        return None
    return file_version(path) or "0.0.0.0"


def os_section(context: FactsContext) -> dict[str, Any]:
    info = context.host.os
    return {
        "caption": info.caption,
        "version": info.version,
        "build": info.build,
        "ubr": info.ubr,
        "manufacturer": info.manufacturer,
        "model": info.model,
        "is_virtual_machine": bool(_VIRTUAL.search(f"{info.manufacturer}|{info.model}")),
    }


def hyperv_section(context: FactsContext) -> dict[str, Any]:
    installed = service_entry(context.state, "vmms") is not None
    version = _file_version(context, features.BINARIES["Hyper-V"]) if installed else None
    return {"installed": installed, "version": version}


def vss_providers_section(context: FactsContext) -> list[dict[str, Any]]:
    return [
        {
            "id": provider["ID"],
            "name": provider["Name"],
            "type": PROVIDER_TYPES.get(provider["Type"], "unknown"),
            "version": provider.get("Version") or None,
            "transportable": None,  # Windows exposes no such flag
        }
        for provider in context.state["providers"]
    ]


def features_section(context: FactsContext) -> list[dict[str, Any]]:
    result = []
    for name in FEATURE_ORDER:
        installed = features.install_state(context.state, name) == "Installed"
        result.append(
            {
                "name": name,
                "display_name": features.DISPLAY_NAMES[name],
                "install_state": features.install_state(context.state, name),
                "installed": installed,
                "version": _file_version(context, features.BINARIES[name]) if installed else None,
            }
        )
    return result


def _component_entry(
    context: FactsContext, role: str, name: str | None, service: dict[str, Any] | None, recorded: Any = None
) -> dict[str, Any]:
    """Version: the file version of the service's executable; for a component without a service, the record's."""
    return {
        "role": role,
        "name": name or None,
        "service_name": service["Name"] if service else None,
        "display_name": (service["DisplayName"] or None) if service else None,
        "version": _file_version(context, service_executable(service["PathName"])) if service else recorded,
        "state": service["State"] if service else None,
        "start_mode": service["StartMode"] if service else None,
    }


def _component_records(context: FactsContext) -> list[tuple[str, dict[str, Any]]]:
    """Records with a Role, in registry order (by name); older records without one are no component."""
    records = sorted(context.state["components"].items(), key=lambda item: item[0].casefold())
    return [(name, record) for name, record in records if record.get("Role")]


def components_section(context: FactsContext, requested: list[Any]) -> list[dict[str, Any]]:
    """Each requested service (with the record naming it), then each record not listed yet (the data mover's)."""
    records = _component_records(context)
    record_of = {str(r["Service"]).lower(): name for name, r in records if r.get("Service")}
    found, listed = [], set()
    for component in requested:
        service = service_entry(context.state, str(component.get("Service", "")))
        if service is None:
            continue
        name = record_of.get(service["Name"].lower())
        listed.add(name)
        found.append(_component_entry(context, str(component.get("Role", "")), name, service))
    for name, record in records:
        if name in listed:
            continue
        service = service_entry(context.state, str(record["Service"])) if record.get("Service") else None
        found.append(_component_entry(context, str(record["Role"]), name, service, record.get("Version") or None))
    return found


def _section(context: FactsContext, name: str, collect: Callable[[], Any]) -> Any:
    message = context.host.section_errors.get(name)
    if message:
        return {"error": {"message": message, "category": "NotSpecified", "exception": "System.Exception"}}
    try:
        return collect()  # a lab bug is loud (w:InternalError), never a made-up section error
    except SectionFailure as failure:  # what the host's Windows would refuse (e.g. a missing module)
        return {"error": failure.error}


def _context(call: ScriptCall, timeout: int) -> FactsContext:
    model = call.estate.model
    if model is None:
        raise ScriptFailure("lab: the estate has no Windows model for this host")
    return FactsContext(
        model=model,
        host=model.host(call.host.name),
        state=HostState(call.state_dir).read(),
        lab_state=call.state_dir.parents[2],
        files=call.files,
        probe_timeout=timeout,
    )


def host_facts(call: ScriptCall) -> dict[str, Any]:
    clock = time.monotonic()
    # Bound already (lab.handlers.binding): the script's [int] and [object[]], its defaults where left out.
    timeout, requested = call.params["ProbeTimeout"], call.params["Components"] or []
    context = _context(call, timeout)
    facts: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "collected_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    sections: dict[str, Callable[[], Any]] = {
        "os": lambda: os_section(context),
        "hyperv": lambda: hyperv_section(context),
        "identity": lambda: identity_section(context),
        "cluster": lambda: cluster_section(context),
        "disks": lambda: disks_section(context),
        "vss_providers": lambda: vss_providers_section(context),
        "features": lambda: features_section(context),
        "dedup_volumes": lambda: dedup_section(context),
        "smb": lambda: smb_section(context),
        "trusts": lambda: trusts_section(context),
        "vms": lambda: vms_section(context),
        "components": lambda: components_section(context, requested),
    }
    for name, collect in sections.items():
        facts[name] = _section(context, name, collect)
    facts["probe_duration_ms"] = int((time.monotonic() - clock) * 1000)
    return facts


def register(registry: HandlerRegistry) -> None:
    registry.add("host_facts", host_facts)
