"""R6 (same major version and build) and R7 (proxy as a VM is a warning)."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.version import (
    proxy_is_physical,
    proxy_version_matches_sources,
)


def os_facts(version: str, build: int, ubr: int = 1, vm: bool | None = False) -> dict:
    return {"caption": "Windows Server", "version": version, "build": build, "ubr": ubr, "is_virtual_machine": vm}


@pytest.mark.parametrize(
    ("proxy_os", "status"),
    [
        (os_facts("10.0.20348", 20348, ubr=9999), "pass"),  # update revision may differ
        (os_facts("10.0.17763", 17763), "fail"),
        (os_facts("6.3.9600", 20348), "fail"),  # same build number, other major version
    ],
)
def test_r6(host, proxy_os, status):
    finding = proxy_version_matches_sources(host("PX1", os=proxy_os), [host("HV1"), host("HV2")])
    assert finding.status == status
    if status == "fail":
        assert finding.evidence["mismatched"] == ["HV1", "HV2"]


def test_r6_one_host_unknown_one_mismatched_is_fail(host):
    error = {"error": {"message": "WMI repository corrupt"}}
    finding = proxy_version_matches_sources(
        host("PX1", os=os_facts("10.0.17763", 17763)), [host("HV1", os=error), host("HV2")]
    )
    assert finding.status == "fail" and finding.evidence["unknown"]


@pytest.mark.parametrize(("vm", "status"), [(False, "pass"), (True, "warn"), (None, "unknown")])
def test_r7(host, vm, status):
    assert proxy_is_physical(host("PX1", os=os_facts("10.0.20348", 20348, vm=vm))).status == status
