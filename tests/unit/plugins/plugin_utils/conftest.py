"""Fixtures for the controller-side helpers: recorded host facts and estates (preflight_estates.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests in sub-directories import preflight_estates

from preflight_estates import base_hosts

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import parse_host_facts


@pytest.fixture
def raw_hosts() -> dict[str, dict[str, Any]]:
    """Raw facts of the healthy base hosts HV1, HV2, PX1, FS1 (a fresh copy per test)."""
    return base_hosts()


@pytest.fixture
def host(raw_hosts: dict[str, dict[str, Any]]) -> Callable[..., HostFacts]:
    """host("PX1", os={...}) -> HostFacts of a base host with some sections replaced (raw JSON values)."""

    def make(name: str, **sections: Any) -> HostFacts:
        return parse_host_facts(name, {**raw_hosts[name], **sections})

    return make
