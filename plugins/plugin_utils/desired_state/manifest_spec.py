"""The argument spec of the component manifest of ``backup.hyperv.proxy_components``.

``manifest_argument_spec()`` is the one description of the manifest's fields (type, required, choices,
default, elements) that ansible-core applies (``manifest.validate_manifest``). The module's
DOCUMENTATION (plugins/modules/proxy_components.py) shows the same tree as suboptions of O(manifest)
for ``ansible-doc``; tests/unit/plugins/plugin_utils/test_desired_state_manifest_spec.py compares the
two field by field. What a spec cannot say (unique names, ranges, path rules) is in manifest.py.
"""

from __future__ import annotations

import copy
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import COMPONENT_ROLES

START_MODES = ("auto", "delayed_auto", "manual", "disabled")
SERVICE_STATES = ("running", "stopped")
RECOVERY_TYPES = ("restart", "reboot")
PROTOCOLS = ("TCP", "UDP")
PROFILES = ("any", "domain", "private", "public")
DEFAULT_RECOVERY = {"reset_period": 86400, "actions": [{"type": "restart", "delay_ms": 60000}] * 3}


def manifest_argument_spec() -> dict[str, dict[str, Any]]:
    """The options of O(manifest) as an ansible-core argument spec (fresh objects on every call)."""
    return {"components": {"type": "list", "elements": "dict", "required": True, "options": _component_options()}}


def _component_options() -> dict[str, dict[str, Any]]:
    return {
        "name": {"type": "str", "required": True},
        "role": {"type": "str", "choices": list(COMPONENT_ROLES), "default": "other"},
        "version": {"type": "str", "required": True},
        "source": {"type": "str", "required": True},
        "destination": {"type": "str", "required": True},
        "files": {
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {
                "path": {"type": "str", "required": True},
                "sha256": {"type": "str"},
                "version": {"type": "str"},
            },
        },
        "service": {"type": "dict", "options": _service_options()},  # none: a program run per job (the data mover)
        "firewall": {"type": "dict", "options": _firewall_options()},
    }


def _service_options() -> dict[str, dict[str, Any]]:
    return {
        "name": {"type": "str", "required": True},
        "binary_path": {"type": "str", "required": True},
        "display_name": {"type": "str"},
        "description": {"type": "str"},
        "start_mode": {"type": "str", "choices": list(START_MODES), "default": "auto"},
        "account": {"type": "str", "default": "LocalSystem"},
        "state": {"type": "str", "choices": list(SERVICE_STATES), "default": "running"},
        "dependencies": {"type": "list", "elements": "str", "default": []},
        "recovery": {
            "type": "dict",
            "default": copy.deepcopy(DEFAULT_RECOVERY),
            "options": {
                "reset_period": {"type": "int", "default": DEFAULT_RECOVERY["reset_period"]},
                "actions": {
                    "type": "list",
                    "elements": "dict",
                    "default": [],
                    "options": {
                        "type": {"type": "str", "required": True, "choices": list(RECOVERY_TYPES)},
                        "delay_ms": {"type": "int", "default": DEFAULT_RECOVERY["actions"][0]["delay_ms"]},
                    },
                },
            },
        },
        "parameters": {"type": "dict", "default": {}},
    }


def _firewall_options() -> dict[str, dict[str, Any]]:
    return {
        "name": {"type": "str", "required": True},
        "local_port": {"type": "int", "required": True},
        "display_name": {"type": "str"},
        "protocol": {"type": "str", "choices": list(PROTOCOLS), "default": "TCP"},
        "profiles": {"type": "list", "elements": "str", "choices": list(PROFILES), "default": ["any"]},
    }
