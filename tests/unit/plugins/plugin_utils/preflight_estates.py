"""Test helpers: load recorded host facts (tests/unit/fixtures) and build estates from them.

An estate is the facts of every host of one assessment. ``estates.json`` lists a healthy estate and
one per misconfiguration, each as patches over the base host fixtures: ``{"host", "set", "value"}``
replaces the value at a dotted path (list indices allowed), ``{"host", "delete"}`` removes it.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.evaluate import evaluate_proxy
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import parse_host_facts
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def load_fixture(name: str) -> dict[str, Any]:
    """A fresh copy of fixture ``name`` (safe to modify)."""
    return json.loads(_fixture_text(name))


def estates_document() -> dict[str, Any]:
    return load_fixture("estates.json")


def base_hosts() -> dict[str, dict[str, Any]]:
    """Raw facts of the base hosts (HV1, HV2, PX1, FS1), freshly loaded."""
    return {host: load_fixture(name)["facts"] for host, name in estates_document()["base"].items()}


def _walk(document: Any, path: str) -> tuple[Any, Any]:
    *parents, last = path.split(".")
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, int(last) if isinstance(node, list) else last


def apply_patches(hosts: dict[str, dict[str, Any]], patches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply estate patches in order to a copy of ``hosts``."""
    hosts = copy.deepcopy(hosts)
    for patch in patches:
        if "set" in patch:
            node, key = _walk(hosts[patch["host"]], patch["set"])
            node[key] = copy.deepcopy(patch["value"])
        else:
            node, key = _walk(hosts[patch["host"]], patch["delete"])
            del node[key]
    return hosts


def estate(name: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(raw facts per host, assessment {proxy, source_hosts, smb_servers}, entry) of the named estate."""
    document = estates_document()
    entry = next(item for item in document["estates"] if item["name"] == name)
    assessment = {**document["assessment"], **entry.get("assessment", {})}
    return apply_patches(base_hosts(), entry["patches"]), assessment, entry


def estate_names() -> list[str]:
    return [item["name"] for item in estates_document()["estates"]]


def parsed(hosts: dict[str, dict[str, Any]]) -> dict[str, HostFacts]:
    return {name: parse_host_facts(name, facts) for name, facts in hosts.items()}


def evaluate_estate(name: str) -> tuple[list[Finding], dict[str, Any]]:
    """Findings for the estate's proxy, and the estate's entry (with its ``expect``)."""
    raw, assessment, entry = estate(name)
    hosts = parsed(raw)
    findings = evaluate_proxy(
        hosts[assessment["proxy"]],
        [hosts[host] for host in assessment["source_hosts"]],
        [hosts[host] for host in assessment["smb_servers"]],
    )
    return findings, entry
