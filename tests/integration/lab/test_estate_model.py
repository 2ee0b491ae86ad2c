"""The estate format: defaults a healthy estate needs, `extends`, and errors that name the faulty place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lab_testkit import ESTATES

# isort: split
from lab.control import inventory
from lab.estate.fields import EstateError
from lab.estate.loader import load_estate, parse_estate

HOST = {"name": "hv1", "address": "127.0.0.21", "credentials": {"username": "a", "password": "b"}}


def estate(**changes) -> dict:
    document = {"domains": [{"dns": "contoso.local"}], "luns": [{"id": "l1"}], "hosts": [dict(HOST)]}
    document.update(changes)
    return document


def test_every_shipped_estate_loads():
    names = sorted(path.stem for path in ESTATES.glob("*.yml"))
    assert {"healthy", "demo", "fresh-proxy", "r8-cluster-node-proxy", "r15-vhd-set"} <= set(names)
    for path in ESTATES.glob("*.yml"):
        assert load_estate(path).model.hosts


def test_defaults_make_a_domain_joined_server_2022():
    host = parse_estate(estate()).model.host("hv1")
    assert (host.computer_name, host.domain, host.os.build, host.os.caption) == (
        "HV1",
        "contoso.local",
        20348,
        "Microsoft Windows Server 2022 Datacenter",
    )
    assert (host.role, host.features, host.groups, host.vms) == ("other", None, (), ())


def test_extends_merges_hosts_by_name():
    model = load_estate(ESTATES / "r6-version-mismatch.yml").model
    assert model.host("px1").os.build == 17763 and model.host("px1").luns[0].lun == "csv1"
    assert model.host("hv1").os.build == 20348 and [c.name for c in model.clusters] == ["CL1"]


def test_inventory_groups_hosts_by_role():
    loaded = load_estate(ESTATES / "demo.yml")
    status = {"hosts": {host.name: {"port": 5985} for host in loaded.hosts}}
    children = inventory(loaded, status)["all"]["children"]
    assert sorted(children["hyperv_hosts"]["hosts"]) == ["hv1", "hv2"]
    assert sorted(children["offhost_proxies"]["hosts"]) == ["px1", "px2"]
    assert list(children["smb_servers"]["hosts"]) == ["fs1"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hosts": [{**HOST, "colour": "red"}]}, r"hosts\[0\] \(hv1\): unknown keys: colour"),
        ({"hosts": [{**HOST, "luns": ["l9"]}]}, r"hosts\[0\] \(hv1\)\.luns\[0\]: unknown LUN 'l9'"),
        ({"hosts": [{**HOST, "domain": "fabrikam.local"}]}, r"hosts\[0\] \(hv1\)\.domain: unknown domain"),
        ({"hosts": [{**HOST, "groups": ["Domain Admins"]}]}, r"\.groups: 'Domain Admins' is not a SID"),
        ({"hosts": [{**HOST, "role": "dc"}]}, r"\.role: must be one of hyperv, proxy, smb, other"),
        ({"hosts": [{**HOST, "features": ["Web-Server"]}]}, r"\.features: the lab knows .*not 'Web-Server'"),
        (
            {"hosts": [{**HOST, "vms": [{"name": "v", "disks": [{"path": "v.vhdx"}]}]}]},
            r"disks\[0\]\.path: 'v.vhdx' is not",
        ),
        (
            {"hosts": [{**HOST, "vms": [{"name": "v", "disks": [{"path": "C:\\v.vhdx", "size": "lots"}]}]}]},
            "not a size",
        ),
        ({"hosts": [{**HOST, "section_errors": {"dns": "x"}}]}, r"section_errors: unknown sections dns"),
        ({"clusters": [{"name": "c", "nodes": ["hv9"]}]}, r"clusters\[0\]\.nodes: unknown host 'hv9'"),
        ({"clusters": [{"name": "c", "nodes": ["hv1"], "csvs": [{"lun": "l2"}]}]}, r"csvs\[0\]\.lun: unknown LUN"),
        ({"trusts": [{"domain": "contoso.local", "partner": "x.local"}]}, r"trusts\[0\]\.partner: unknown domain"),
        ({"trusts": [{"domain": "contoso.local", "partner": "contoso.local", "direction": "both"}]}, "direction"),
        ({"domains": [{"dns": "a.local", "sid": "S-1-x"}]}, r"domains\[0\]\.sid: 'S-1-x' is not a SID"),
        ({"luns": [{"id": "l1"}, {"id": "l1"}]}, "luns declared more than once: l1"),
        ({"cluster": []}, "unknown top-level keys: cluster"),
        ({"hosts": [{**HOST, "address": "10.0.0.1"}]}, "not a loopback address"),
        ({"hosts": [{**HOST, "vms": [{"name": "v", "state": False}]}]}, r"vms\[0\]\.state: False is YAML's reading"),
        ({"hosts": [{**HOST, "vms": [{"name": "v", "state": "Runing"}]}]}, r"\.state: 'Runing' is not a VM state"),
    ],
)
def test_errors_name_the_faulty_place(changes, message):
    with pytest.raises(EstateError, match=message):
        parse_estate(estate(**changes))


def test_a_vm_state_is_spelled_as_hyper_v_spells_it():
    vms = [{"name": "a", "state": "saving"}, {"name": "b", "state": "PAUSED"}, {"name": "c"}]
    loaded = parse_estate(estate(hosts=[{**HOST, "vms": vms}])).model.host("hv1").vms
    assert [vm.state for vm in loaded] == ["Saving", "Paused", "Running"]


def test_extends_cycle_is_refused(tmp_path: Path):
    (tmp_path / "a.yml").write_text(yaml.safe_dump({"extends": "b.yml", "hosts": []}))
    (tmp_path / "b.yml").write_text(yaml.safe_dump({"extends": "a.yml", "hosts": []}))
    with pytest.raises(EstateError, match="extends itself"):
        load_estate(tmp_path / "a.yml")
