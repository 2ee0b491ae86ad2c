"""R8: the proxy is not a node of a source cluster."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.cluster import proxy_outside_source_clusters


def cluster(name: str, *nodes: str) -> dict:
    return {"name": name, "nodes": [{"name": node} for node in nodes], "shared_volumes": []}


@pytest.mark.parametrize(("proxy_cluster", "status"), [(None, "pass"), ("CL1", "fail"), ("CL2", "pass")])
def test_r8_proxy_against_source_cluster(host, proxy_cluster, status):
    proxy = host("PX1", cluster=cluster(proxy_cluster, "PX1") if proxy_cluster else None)
    finding = proxy_outside_source_clusters(proxy, [host("HV1")])
    assert (finding.id, finding.status) == ("R8", status)


def test_cluster_names_compare_case_insensitively(host):
    finding = proxy_outside_source_clusters(host("PX1", cluster=cluster("cl1", "PX1")), [host("HV1")])
    assert finding.status == "fail" and finding.evidence["shared_clusters"] == ["CL1"]


def test_standalone_sources_make_r8_not_applicable(host):
    finding = proxy_outside_source_clusters(host("PX1"), [host("HV1", cluster=None)])
    assert finding.status == "pass" and finding.evidence["applicable"] is False


def test_unknown_when_neither_side_can_tell(host):
    error = {"error": {"message": "RPC server unavailable", "category": "ConnectionError"}}
    finding = proxy_outside_source_clusters(host("PX1", cluster=error), [host("HV1", cluster=error)])
    assert finding.status == "unknown" and "HV1" in finding.message and "PX1" in finding.message


def test_no_sources_is_unknown(host):
    assert proxy_outside_source_clusters(host("PX1"), []).status == "unknown"


def test_a_source_cluster_without_csvs_makes_r8_not_applicable(host):
    """R8 is for a Hyper-V cluster with CSV (requirements.md): its VMs on SMB3 shares, a node of it may serve."""
    proxy = host("PX1", cluster=cluster("CL1", "PX1"))
    finding = proxy_outside_source_clusters(proxy, [host("HV1", cluster=cluster("CL1", "HV1", "PX1"))])
    assert finding.status == "pass" and finding.evidence["applicable"] is False
    assert "no source cluster has cluster shared volumes" in finding.message
