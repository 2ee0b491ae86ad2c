"""Turn a validated ``hyperv_offhost`` facts document into HostFacts (see model.py).

``parse_host_facts`` validates against the schema first, so every shape error is reported with
its JSON path before any check sees the data. Helpers read facts from Ansible hostvars or from a
recorded facts file (``{"hosts": {name: facts}}``) for offline assessment.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import (
    NOT_COLLECTED,
    SECTIONS,
    Cluster,
    Component,
    DedupVolume,
    Disk,
    Feature,
    HostFacts,
    HyperVRole,
    Identity,
    LocalGroup,
    LunId,
    OsInfo,
    SectionError,
    SharedVolume,
    Smb,
    SmbShare,
    Trust,
    VirtualDisk,
    Vm,
    VssProvider,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import FactsSchemaError, validate_facts

FACTS_KEY = "hyperv_offhost"


def _build(cls: type, data: Mapping[str, Any], **nested: Callable[[Any], Any]) -> Any:
    """Construct dataclass ``cls`` from ``data``: nested fields through their converter, lists as tuples."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        value = data[field.name]
        if field.name in nested and value is not None:
            value = nested[field.name](value)
        elif isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return cls(**values)


def _many(cls: type, **nested: Callable[[Any], Any]) -> Callable[[list], tuple]:
    return lambda items: tuple(_build(cls, item, **nested) for item in items)


def _section_error(data: Mapping[str, Any]) -> SectionError:
    return _build(SectionError, data)


_SECTION_BUILDERS: dict[str, Callable[[Any], Any]] = {
    "os": lambda data: _build(OsInfo, data),
    "hyperv": lambda data: _build(HyperVRole, data),
    "identity": lambda data: _build(Identity, data, local_groups=_many(LocalGroup)),
    "cluster": lambda data: _build(
        Cluster,
        {**data, "nodes": [node["name"] for node in data["nodes"]]},
        shared_volumes=_many(SharedVolume, luns=_many(LunId)),
    ),
    "disks": _many(Disk),
    "vss_providers": _many(VssProvider),
    "features": _many(Feature),
    "dedup_volumes": _many(DedupVolume),
    "smb": lambda data: _build(Smb, data, shares=_many(SmbShare, error=_section_error)),
    "trusts": _many(Trust),
    "vms": _many(Vm, disks=_many(VirtualDisk)),
    "components": _many(Component),
}


def _parse_section(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping) and "error" in value:
        return _section_error(value["error"])
    return _SECTION_BUILDERS[name](value)


def parse_host_facts(name: str, document: object) -> HostFacts:
    """Validate ``document`` (the value of ansible_facts.hyperv_offhost) and return HostFacts for host ``name``."""
    validate_facts(document, host=name)
    if not isinstance(document, Mapping):  # validate_facts guarantees a mapping; this narrows the type
        raise TypeError("facts document is not a mapping")
    sections = {key: _parse_section(key, document[key]) if key in document else NOT_COLLECTED for key in SECTIONS}
    return HostFacts(name=name, schema_version=document["schema_version"], **sections)


def uncollected(name: str) -> HostFacts:
    """HostFacts of a host whose facts were never gathered: every check that needs them says ``unknown``."""
    return HostFacts(name=name, schema_version="")


def facts_from_hostvars(hostvars: Mapping[str, Any], name: str, missing_ok: bool = False) -> HostFacts:
    """HostFacts of inventory host ``name`` from ``hostvars[name].ansible_facts.hyperv_offhost``.

    With ``missing_ok``, a host without those facts (e.g. unreachable during host_facts) yields
    ``uncollected(name)`` instead of an error.
    """
    if name not in hostvars:
        raise KeyError(f"host {name!r} is not in the inventory")
    host_vars = hostvars[name]
    facts = (host_vars.get("ansible_facts") or {}).get(FACTS_KEY)
    if facts is None:  # facts injected at top level (ansible_facts flattened into hostvars)
        facts = host_vars.get(FACTS_KEY)
    if facts is None:
        if missing_ok:
            return uncollected(name)
        raise FactsSchemaError("$", "no hyperv_offhost facts: run backup.hyperv.host_facts on it first", host=name)
    return parse_host_facts(name, facts)


def load_facts_file(path: str | Path) -> dict[str, Any]:
    """Read a recorded facts file ``{"hosts": {name: facts}}`` and return its raw ``hosts`` mapping."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    hosts = document.get("hosts") if isinstance(document, dict) else None
    if not isinstance(hosts, dict):
        raise FactsSchemaError("$.hosts", f"{path}: expected an object mapping host names to facts")
    return hosts


def facts_from_file(hosts: Mapping[str, Any], name: str) -> HostFacts:
    """HostFacts of ``name`` from the ``hosts`` mapping of a recorded facts file, named ``name``.

    Names match case-blind, as Windows computer names do ("Computer Names",
    https://learn.microsoft.com/windows/win32/sysinfo/computer-names: DNS names are not case sensitive,
    NetBIOS names are written in uppercase by convention), so inventory ``px1`` finds ``PX1``. Two
    names in the file that differ only by case would be one computer recorded twice: that is refused.
    """
    matches = sorted(key for key in hosts if key.casefold() == name.casefold())
    if not matches:
        raise KeyError(f"host {name!r} is not in the facts file")
    if len(matches) > 1:
        listed = " and ".join(repr(key) for key in matches)
        raise ValueError(
            f"host {name!r} matches {listed} in the facts file: names that differ only by case name one "
            "Windows computer; keep one of them"
        )
    return parse_host_facts(name, hosts[matches[0]])
