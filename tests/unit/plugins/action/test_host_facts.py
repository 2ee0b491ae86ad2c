"""host_facts action: one round trip, payload on stdin, schema-checked facts, errors as failed results."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import tree_sitter_powershell
import yaml
from ansible.errors import AnsibleActionFail
from tree_sitter import Language, Node, Parser

from ansible_collections.backup.hyperv.plugins.doc_fragments.probe import ModuleDocFragment
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import COMMAND, load_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import DEFAULT_COMPONENTS, probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import parse_host_facts
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import load_schema

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HOST_FACTS_FIXTURES = sorted(path.name for path in FIXTURES.glob("host_facts_*.json"))


def test_host_facts_is_one_round_trip_with_payload_on_stdin(make_action, recorded):
    action, calls = make_action("host_facts", replies=[recorded("host_facts_hv1_cluster_node.json")])

    result = action.run(task_vars={"inventory_hostname": "hv1"})

    assert len(calls) == 1
    call = calls[0]
    assert call.cmd == COMMAND and len(call.cmd) < 2000 and call.sudoable is False
    request = call.request()
    assert request["name"] == "host_facts"
    assert base64.b64decode(request["script"]) == load_script("host_facts")
    assert request["params"] == {
        "ProbeTimeout": 60,
        "Components": [{"Role": c["role"], "Service": c["service"]} for c in DEFAULT_COMPONENTS],
    }
    assert result["changed"] is False and not result.get("failed")
    facts = result["ansible_facts"]["hyperv_offhost"]
    assert facts["cluster"]["name"] == "CL1"
    assert parse_host_facts("hv1", facts).cluster.name == "CL1"


def test_options_reach_the_script_as_parameters(make_action, recorded):
    components = [{"role": "data_mover", "service": "VendorTransportSvc"}]
    action, calls = make_action(
        "host_facts",
        replies=[recorded("host_facts_hv1_cluster_node.json")],
        args={"probe_timeout": "15", "components": components},
    )
    action.run(task_vars={})
    assert calls[0].request()["params"] == {
        "ProbeTimeout": 15,
        "Components": [{"Role": "data_mover", "Service": "VendorTransportSvc"}],
    }


def test_check_mode_probes_and_returns_the_same_facts(make_action, recorded):
    fixture = recorded("host_facts_hv1_cluster_node.json")
    action, calls = make_action("host_facts", replies=[fixture], check_mode=True)
    result = action.run(task_vars={})
    assert len(calls) == 1
    assert result["ansible_facts"]["hyperv_offhost"] == fixture["stdout"]


def test_failed_sections_and_host_noise_still_give_facts(make_action, recorded):
    action, _ignored = make_action("host_facts", replies=[recorded("host_facts_px1_proxy_partial.json")])
    facts = action.run(task_vars={})["ansible_facts"]["hyperv_offhost"]
    assert facts["features"]["error"]["category"] == "ObjectNotFound"
    assert facts["cluster"] is None and facts["identity"]["computer_name"] == "PX1"


def test_script_error_is_a_failed_result_with_what_the_host_said(make_action, recorded):
    action, calls = make_action("host_facts", replies=[recorded("host_facts_failed_clixml.json")])
    result = action.run(task_vars={})
    assert len(calls) == 1
    assert result["failed"] is True and result["rc"] == 1
    assert result["msg"].startswith("host_facts.ps1: Access is denied At host_facts.ps1:42")
    assert "Get-CimInstance : Access is denied." in result["stderr"] and "CLIXML" not in result["stderr"]
    assert '"failed":true' in result["stdout"]
    assert "ansible_facts" not in result


def test_document_that_breaks_the_schema_fails_naming_the_path(make_action, recorded):
    reply = recorded("host_facts_hv1_cluster_node.json")
    reply["stdout"]["os"]["build"] = "20348"
    action, _ignored = make_action("host_facts", replies=[reply])
    result = action.run(task_vars={"inventory_hostname": "hv1"})
    assert result["failed"] is True
    assert "$.os.build" in result["msg"] and "hv1" in result["msg"]
    assert "ansible_facts" not in result


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"probe_timeout": 0}, "probe_timeout must be between 1 and 3600"),
        ({"components": [{"role": "installer", "service": "A"}, {"role": "other", "service": "a"}]}, "more than once"),
        ({"components": [{"role": "database", "service": "A"}]}, "role"),
        ({"timeout_seconds": 5}, "timeout_seconds"),
    ],
)
def test_bad_options_fail_before_any_round_trip(make_action, args, message):
    action, calls = make_action("host_facts", args=args)
    with pytest.raises(AnsibleActionFail, match=message):
        action.run(task_vars={})
    assert calls == []


def test_task_args_are_not_changed(make_action, recorded):
    args = {"probe_timeout": 30}
    action, _ignored = make_action("host_facts", replies=[recorded("host_facts_hv1_cluster_node.json")], args=args)
    action.run(task_vars={})
    assert action._task.args == {"probe_timeout": 30}


@pytest.mark.parametrize("name", HOST_FACTS_FIXTURES)
def test_recorded_replies_name_their_source_and_hold_one_json_object(recorded, name):
    fixture = recorded(name)
    assert fixture["_source"], f"{name} must name the Windows documentation its shape follows"
    stdout = fixture["stdout"]
    if isinstance(stdout, str):  # recorded verbatim: exactly one line is the JSON document
        objects = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        assert len(objects) == 1
        stdout = objects[0]
    assert isinstance(stdout, dict) and {"rc", "stderr"} <= set(fixture)


def _schema_property_names(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else {})
        for value in node.values():
            names |= _schema_property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _schema_property_names(value)
    return names


def _script_keys(source: bytes) -> tuple[set[str], set[str]]:
    """snake_case keys the probe writes (hash literal keys, $x.key = ...) and its top-level $facts keys."""
    parser = Parser(Language(tree_sitter_powershell.language()))
    keys: set[str] = set()
    top_level: set[str] = set()

    def visit(node: Node) -> None:
        if node.type in ("key_expression", "member_name") and re.fullmatch(rb"[a-z][a-z0-9_]*", node.text):
            is_assigned = node.type == "key_expression" or _assigned_member(node)
            if is_assigned:
                keys.add(node.text.decode())
                if node.type == "member_name" and node.prev_sibling.prev_sibling.text == b"$facts":
                    top_level.add(node.text.decode())
        for child in node.children:
            visit(child)

    visit(parser.parse(source).root_node)
    facts_literal = re.search(rb"\$facts = \[ordered\]@\{(.*?)\n\}", source, re.DOTALL).group(1)
    top_level |= {key.decode() for key in re.findall(rb"^\s*([a-z_]+)\s*=", facts_literal, re.MULTILINE)}
    return keys, top_level


def _assigned_member(node: Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type != "left_assignment_expression":
        if parent.type in ("pipeline", "statement_list"):
            return False
        parent = parent.parent
    return parent is not None


def test_probe_script_collects_every_section_and_writes_only_schema_keys():
    schema = load_schema()
    keys, top_level = _script_keys(load_script("host_facts"))
    assert top_level == set(schema["properties"])
    assert keys - _schema_property_names(schema) == set()


def _documented(options: dict) -> dict:
    """The parts of documented options an argument spec also states."""
    keys = ("type", "elements", "default", "choices", "required")
    return {
        name: {
            **{key: option[key] for key in keys if key in option},
            **({"options": _documented(option["suboptions"])} if "suboptions" in option else {}),
        }
        for name, option in options.items()
    }


def test_probe_fragment_documents_exactly_the_shared_spec():
    documented = _documented(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    assert documented == probe_argument_spec()
