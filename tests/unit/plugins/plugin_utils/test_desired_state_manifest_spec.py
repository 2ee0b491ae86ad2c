"""The manifest's one argument spec: the module documents it field by field, the role defers to it.

``manifest_argument_spec()`` is what ansible-core validates; ``plugins/modules/proxy_components.py``
documents the same tree as suboptions of O(manifest) for ``ansible-doc``. These tests make the two
unable to drift, and check that the role's ``offhost_proxy_manifest`` keeps no second copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ansible_collections.backup.hyperv.plugins.action.proxy_components import PROXY_COMPONENTS_SPEC
from ansible_collections.backup.hyperv.plugins.modules import proxy_components
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest_spec import manifest_argument_spec

REPO_ROOT = Path(__file__).resolve().parents[4]
DOCUMENTED = yaml.safe_load(proxy_components.DOCUMENTATION)["options"]["manifest"]
ROLE_OPTION = yaml.safe_load((REPO_ROOT / "roles/offhost_proxy/meta/argument_specs.yml").read_text(encoding="utf-8"))[
    "argument_specs"
]["main"]["options"]["offhost_proxy_manifest"]


def fields(options: dict[str, Any], children: str, path: str = "manifest") -> dict[str, dict[str, Any]]:
    """Every option below ``options`` by its dotted path, with what ansible-core acts on.

    ``children`` is where nested options live: ``suboptions`` in documentation, ``options`` in a spec.
    Absent ``required`` and ``no_log`` mean false on both sides.
    """
    flat: dict[str, dict[str, Any]] = {}
    for name, option in options.items():
        where = f"{path}.{name}"
        flat[where] = {
            "type": option.get("type"),
            "required": option.get("required", False),
            "choices": option.get("choices"),
            "default": option.get("default"),
            "elements": option.get("elements"),
            "no_log": option.get("no_log", False),
        }
        flat.update(fields(option.get(children) or {}, children, where))
    return flat


def test_documentation_lists_exactly_the_fields_of_the_spec():
    documented = fields(DOCUMENTED["suboptions"], "suboptions")
    assert sorted(documented) == sorted(fields(manifest_argument_spec(), "options"))


def test_documentation_and_spec_agree_field_by_field():
    documented = fields(DOCUMENTED["suboptions"], "suboptions")
    specified = fields(manifest_argument_spec(), "options")
    disagreeing = {
        path: (documented[path], specified[path]) for path in specified if documented.get(path) != specified[path]
    }
    assert disagreeing == {}


def test_every_documented_field_has_a_description():
    def undescribed(options: dict[str, Any], path: str) -> list[str]:
        missing = [f"{path}.{name}" for name, option in options.items() if not option.get("description")]
        for name, option in options.items():
            missing += undescribed(option.get("suboptions") or {}, f"{path}.{name}")
        return missing

    assert undescribed(DOCUMENTED["suboptions"], "manifest") == []


def test_the_action_takes_the_manifest_as_the_module_documents_it():
    assert PROXY_COMPONENTS_SPEC["manifest"]["type"] == DOCUMENTED["type"] == "dict"
    assert PROXY_COMPONENTS_SPEC["manifest"]["required"] is DOCUMENTED["required"] is True


def test_the_role_defers_to_the_module_spec_and_its_default_passes_it():
    # No second copy of the tree: the role hands the variable to proxy_components, which applies the spec.
    assert ROLE_OPTION["type"] == DOCUMENTED["type"]
    assert "options" not in ROLE_OPTION and "backup.hyperv.proxy_components" in " ".join(ROLE_OPTION["description"])
    # The data mover, the one component the package builds, runs per job: no service.
    components = validate_manifest(ROLE_OPTION["default"])["components"]
    assert [(c["name"], c["role"], c["service"]) for c in components] == [("data_mover", "data_mover", None)]
