"""Argument specs shared by the collection's probing actions (action group ``backup.hyperv.probe``).

One spec function (``probe_argument_spec``), one doc fragment that documents it
(``backup.hyperv.probe``, plugins/doc_fragments/probe.py), one action group in meta/runtime.yml,
so ``module_defaults: {group/backup.hyperv.probe: {...}}`` sets these options for every probe.

Words: a *component* is a Windows service of the backup product that a proxy runs (requirements
R2-R4); its *role* says which duty it serves, as the facts schema names it.
"""

from __future__ import annotations

from typing import Any, Mapping

COMPONENT_ROLES = ("installer", "data_mover", "hyperv_integration", "other")

# Service names of the collection's own proxy components; proxy_components must install these.
DEFAULT_COMPONENTS: tuple[dict[str, str], ...] = (
    {"role": "installer", "service": "BackupHyperVInstaller"},
    {"role": "data_mover", "service": "BackupHyperVDataMover"},
    {"role": "hyperv_integration", "service": "BackupHyperVIntegration"},
)

PROBE_TIMEOUT_DEFAULT = 60
PROBE_TIMEOUT_MAX = 3600


def probe_argument_spec() -> dict[str, dict[str, Any]]:
    """Options every probing action accepts; documented by the ``backup.hyperv.probe`` fragment."""
    return {
        "probe_timeout": {"type": "int", "default": PROBE_TIMEOUT_DEFAULT},
        "components": {
            "type": "list",
            "elements": "dict",
            "default": [dict(component) for component in DEFAULT_COMPONENTS],
            "options": {
                "role": {"type": "str", "required": True, "choices": list(COMPONENT_ROLES)},
                "service": {"type": "str", "required": True},
            },
        },
    }


def probe_script_params(args: Mapping[str, Any]) -> dict[str, Any]:
    """The probe options as PowerShell parameters (``-ProbeTimeout``, ``-Components``).

    Raises ValueError for values the spec cannot express: a timeout out of range, or a service
    listed twice.
    """
    timeout = args["probe_timeout"]
    if not 1 <= timeout <= PROBE_TIMEOUT_MAX:
        raise ValueError(f"probe_timeout must be between 1 and {PROBE_TIMEOUT_MAX} seconds, got {timeout}")
    services = [component["service"].casefold() for component in args["components"]]  # names are case-blind
    duplicates = sorted({name for name in services if services.count(name) > 1})
    if duplicates:
        raise ValueError(f"components lists service(s) more than once: {', '.join(duplicates)}")
    return {
        "ProbeTimeout": timeout,
        "Components": [{"Role": c["role"], "Service": c["service"]} for c in args["components"]],
    }
