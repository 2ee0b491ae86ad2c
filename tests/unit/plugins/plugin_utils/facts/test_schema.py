"""The facts schema: recorded fixtures follow it, and a wrong document is refused naming its JSON path."""

from __future__ import annotations

import dataclasses
import json

import pytest
from preflight_estates import FIXTURES, load_fixture

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts import model
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import SECTIONS
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import (
    FactsSchemaError,
    load_schema,
    validate_facts,
)

HOST_FIXTURES = sorted(path.name for path in FIXTURES.glob("facts_*.json"))


def test_schema_is_versioned_draft_2020_12():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["pattern"] == "^1\\.[0-9]+$"


@pytest.mark.parametrize("name", HOST_FIXTURES)
def test_recorded_fixtures_are_valid_and_name_their_sources(name):
    fixture = load_fixture(name)
    assert fixture["_source"] and all(isinstance(item, str) for item in fixture["_source"])
    validate_facts(fixture["facts"])


def test_every_fixture_file_names_its_source():
    for path in FIXTURES.glob("*.json"):
        assert "_source" in json.loads(path.read_text()), path.name


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d["cluster"]["shared_volumes"][0].update(luns="LUN1"), "$.cluster.shared_volumes[0].luns", "array"),
        (lambda d: d["disks"][1].pop("readable"), "$.disks[1]", "readable"),
        (lambda d: d["vss_providers"][0].update(type="magic"), "$.vss_providers[0].type", "magic"),
        (lambda d: d["os"].update(build="20348"), "$.os.build", "integer"),
        (lambda d: d.update(cluster={"error": {"message": 42}}), "$.cluster.error.message", "string"),
        (lambda d: d["identity"].update(account_sid="CORP\\HV1$"), "$.identity.account_sid", ""),
        (lambda d: d.update(surprise=1), "$", "surprise"),
        (lambda d: d["vms"][0]["disks"][0].update(format="QCOW2"), "$.vms[0].disks[0].format", "QCOW2"),
    ],
)
def test_invalid_document_names_the_json_path(raw_hosts, mutate, path, words):
    document = raw_hosts["HV1"]
    mutate(document)
    with pytest.raises(FactsSchemaError) as caught:
        validate_facts(document, host="HV1")
    assert caught.value.path == path
    assert str(caught.value).startswith(f"HV1: hyperv_offhost facts invalid at {path}: ")
    assert words in str(caught.value)


def test_any_section_may_be_an_error_instead(raw_hosts):
    document = raw_hosts["PX1"]
    for section in SECTIONS:  # every section the parser reads
        document[section] = {"error": {"message": "boom", "category": "NotSpecified", "exception": "System.Exception"}}
    validate_facts(document)


def test_sections_may_be_absent_or_null_where_not_applicable():
    validate_facts({"schema_version": "1.0", "cluster": None, "smb": None})


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], "$"),
        ({}, "$.schema_version"),
        ({"schema_version": "2.0"}, "$.schema_version"),
        ({"schema_version": 1}, "$.schema_version"),
    ],
)
def test_document_and_version_errors(document, path):
    with pytest.raises(FactsSchemaError) as caught:
        validate_facts(document)
    assert caught.value.path == path


def test_newer_minor_version_is_read():
    validate_facts({"schema_version": "1.7"})


def _item_properties(section: str) -> set[str]:
    definition = load_schema()["$defs"][f"section_{section}"]["else"]
    body = definition.get("items", definition)
    return set(body["properties"])


@pytest.mark.parametrize(
    ("section", "model"),
    [
        ("os", model.OsInfo),
        ("hyperv", model.HyperVRole),
        ("identity", model.Identity),
        ("disks", model.Disk),
        ("vss_providers", model.VssProvider),
        ("features", model.Feature),
        ("dedup_volumes", model.DedupVolume),
        ("trusts", model.Trust),
        ("vms", model.Vm),
        ("components", model.Component),
        ("cluster", model.Cluster),
    ],
)
def test_model_fields_match_schema_properties(section, model):
    """parse.py drops nothing the probe reports: each schema property has a dataclass field."""
    assert _item_properties(section) == {field.name for field in dataclasses.fields(model)}


def test_schema_sections_match_model():
    assert set(load_schema()["properties"]) - {"schema_version", "collected_at", "probe_duration_ms"} == set(SECTIONS)


def _recorded_probe_documents() -> list[tuple[str, dict]]:
    """Facts documents inside the recorded host_facts.ps1 replies (host output may precede the JSON)."""
    documents = []
    for path in sorted(FIXTURES.glob("host_facts_*.json")):
        reply = json.loads(path.read_text())
        stdout = reply.get("stdout")
        if reply.get("rc") == 0 and isinstance(stdout, str) and "{" in stdout:
            document, _ignored = json.JSONDecoder().raw_decode(stdout[stdout.index("{") :])
            documents.append((path.name, document))
    return documents


def test_recorded_probe_replies_follow_the_schema():
    """The contract both sides are tested against: what the PowerShell probe returned is valid here."""
    documents = _recorded_probe_documents()
    assert documents, "no recorded host_facts replies found"
    for name, document in documents:
        validate_facts(document, host=name)
