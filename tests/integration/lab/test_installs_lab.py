"""`backup.hyperv.vss_provider` and `backup.hyperv.proxy_components` on fresh lab proxies, through Ansible.

px1 is reached over psrp, px2 over winrm. Each module converges in one run (read + apply), a
second run changes nothing (read only, changed=false), check mode changes nothing on disk, and
what Windows would refuse (a package not copied to the host) fails with nothing applied.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader
from lab_testkit import ESTATES, TESTS_DIR, adhoc_round_trips, ansible_adhoc, estate_lab

# isort: split
from lab.windows.hoststate import HostState
from lab.windows.pe_version import executable_bytes

PROXIES = ("px1", "px2")
PROVIDER = "Contoso Array VSS Hardware Provider"
PRODUCT_ID = "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}"
PACKAGE = "C:\\Windows\\Temp\\ContosoVssProvider-5.2.1.msi"
CONFIG_TOOL = "C:\\Program Files\\Contoso\\VSS\\contoso-vss-config.exe"
MANIFEST = json.loads((TESTS_DIR / "unit" / "fixtures" / "proxy_components_manifest_default.json").read_text())
VSS_ARGS = {
    "name": PROVIDER,
    "package": PACKAGE,
    "product_id": PRODUCT_ID,
    "version": "5.2.1",
    "config_command": CONFIG_TOOL,
    "config_arguments": "--array {controlling_server} --user {array_user} --password-stdin",
    "config_password_stdin": True,
    "controlling_server": "array01.contoso.local",
    "array_user": "vss-backup",
    "array_password": "Arr4y-s3cret",
}


@pytest.fixture(scope="module")
def proxy_lab(tmp_path_factory: pytest.TempPathFactory):
    with estate_lab(ESTATES / "fresh-proxy.yml", tmp_path_factory.mktemp("fresh-proxy-lab")) as lab:
        yield lab


def host_snapshot(lab, host: str) -> dict[str, str]:
    """Every file of the emulated host (its drives and its state) by path, with its SHA-256."""
    root = lab.state_dir / "hosts" / host
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def run_module(lab, work_dir: Path, module: str, args: dict, *options: str) -> dict[str, dict]:
    """The module on both proxies; each result, with the round trips it made as `_round_trips`."""
    return adhoc_round_trips(lab, work_dir, PROXIES, "offhost_proxies", "-m", module, "-a", json.dumps(args), *options)


def put_file(lab, host: str, local: Path, remote: str) -> None:
    """Copy a file to the host the way Ansible does: the host's own connection plugin's put_file."""
    variables = yaml.safe_load(lab.inventory.read_text())["all"]["children"]["windows"]["hosts"][host]
    plugin = connection_loader.get(variables["ansible_connection"], PlayContext(), None)
    plugin.set_options(var_options={"_extras": {}, **variables})
    plugin._connect()
    try:
        plugin.put_file(str(local), remote)
    finally:
        plugin.close()


def assert_converges(lab, work_dir: Path, module: str, args: dict, read: str, apply: str) -> dict[str, dict]:
    before = {host: host_snapshot(lab, host) for host in PROXIES}
    checked = run_module(lab, work_dir, module, args, "--check")
    for host in PROXIES:
        assert checked[host]["changed"] is True and checked[host]["steps"], checked[host]
        assert checked[host]["_round_trips"] == [f"collection:{read}"]
        assert host_snapshot(lab, host) == before[host]  # check mode changed nothing
    applied = run_module(lab, work_dir, module, args)
    for host in PROXIES:
        assert applied[host]["changed"] is True, applied[host]
        assert applied[host]["_round_trips"] == [f"collection:{read}", f"collection:{apply}"]
        assert [s["action"] for s in applied[host]["steps"]] == [s["action"] for s in checked[host]["steps"]]
    again = run_module(lab, work_dir, module, args)
    for host in PROXIES:
        assert (again[host]["changed"], again[host]["steps"]) == (False, []), again[host]
        assert again[host]["_round_trips"] == [f"collection:{read}"]
    return applied


def converge_components(lab, work_dir: Path, manifest: dict) -> dict[str, dict]:
    """`assert_converges` of backup.hyperv.proxy_components with ``manifest`` on both proxies."""
    args = {"manifest": manifest}
    return assert_converges(
        lab, work_dir, "backup.hyperv.proxy_components", args, "proxy_components_read", "proxy_components_apply"
    )


def test_vss_provider_refuses_a_package_that_is_not_on_the_host(proxy_lab, tmp_path):
    before = host_snapshot(proxy_lab, "px1")
    results = run_module(
        proxy_lab, tmp_path, "backup.hyperv.vss_provider", {**VSS_ARGS, "package": "C:\\Temp\\absent.msi"}
    )
    for host in PROXIES:
        assert results[host]["msg"] == "package: C:\\Temp\\absent.msi does not exist on the host", results[host]
        assert results[host]["changed"] is False
        assert results[host]["_round_trips"] == ["collection:vss_provider_read"]
        assert VSS_ARGS["array_password"] not in json.dumps(results[host])
    assert host_snapshot(proxy_lab, "px1") == before


def test_vss_provider_installs_configures_and_stays_put(proxy_lab, tmp_path):
    package = {
        "lab_package": 1,
        "product_id": PRODUCT_ID,
        "display_name": "Contoso VSS Hardware Provider",
        "version": "5.2.1",
        "provider": {"name": PROVIDER, "type": "hardware"},
        "files": {CONFIG_TOOL: "5.2.1.0"},
    }
    (tmp_path / "package.msi").write_text(json.dumps(package))
    for host in PROXIES:
        put_file(proxy_lab, host, tmp_path / "package.msi", PACKAGE)
    applied = assert_converges(
        proxy_lab, tmp_path, "backup.hyperv.vss_provider", VSS_ARGS, "vss_provider_read", "vss_provider_apply"
    )
    for host in PROXIES:
        assert VSS_ARGS["array_password"] not in json.dumps(applied[host])
        facts = ansible_adhoc(proxy_lab, tmp_path, host, "-m", "backup.hyperv.host_facts")[host]
        providers = facts["ansible_facts"]["hyperv_offhost"]["vss_providers"]
        assert {(p["name"], p["type"], p["version"]) for p in providers} >= {(PROVIDER, "hardware", "5.2.1")}
        state = json.loads((proxy_lab.state_dir / "hosts" / host / "state" / "windows.json").read_text())
        assert VSS_ARGS["array_password"] not in json.dumps(state)  # never recorded


def stage_component_sources(lab, host: str) -> None:
    """The packages the manifest's `source` folders name, staged on the host beforehand."""
    for component in MANIFEST["manifest"]["components"]:
        folder = component["source"].replace("C:\\", "").split("\\")
        for relative in component["files"]:
            target = lab.host_file(host, "C", *folder, *relative.split("\\"))
            target.parent.mkdir(parents=True, exist_ok=True)
            payload = f"{component['name']}/{relative}".encode()
            target.write_bytes(executable_bytes("0.1.0.0", payload) if relative.endswith(".exe") else payload)


def install_components(lab, work_dir: Path) -> None:
    """The default manifest installed on both proxies, whatever ran before on this lab (pytest-xdist may give a
    test its own worker, and so its own lab)."""
    for host in PROXIES:
        stage_component_sources(lab, host)
    run_module(lab, work_dir, "backup.hyperv.proxy_components", {"manifest": MANIFEST["manifest"]})


def test_proxy_components_install_and_stay_put(proxy_lab, tmp_path):
    for host in PROXIES:
        stage_component_sources(proxy_lab, host)
    args = {"manifest": MANIFEST["manifest"]}
    assert_converges(
        proxy_lab, tmp_path, "backup.hyperv.proxy_components", args, "proxy_components_read", "proxy_components_apply"
    )
    options = json.dumps({"probe_timeout": 30})
    for host, result in ansible_adhoc(
        proxy_lab, tmp_path, "offhost_proxies", "-m", "backup.hyperv.host_facts", "-a", options
    ).items():
        components = result["ansible_facts"]["hyperv_offhost"]["components"]
        assert [(c["role"], c["state"], c["version"]) for c in components] == [
            ("installer", "Running", "0.1.0.0"),
            ("data_mover", "Running", "0.1.0.0"),
            ("hyperv_integration", "Running", "0.1.0.0"),
        ], host


def test_a_record_an_older_version_wrote_is_brought_up_to_date(proxy_lab, tmp_path):
    # Installed as above; then the records lose what an older version did not write (only Version).
    install_components(proxy_lab, tmp_path)
    for host in PROXIES:
        with HostState(proxy_lab.state_dir / "hosts" / host / "state").edit() as state:
            state["components"] = {name: {"Version": record["Version"]} for name, record in state["components"].items()}
    args = {"manifest": MANIFEST["manifest"]}
    checked = run_module(proxy_lab, tmp_path, "backup.hyperv.proxy_components", args, "--check")
    for host in PROXIES:
        steps = checked[host]["steps"]
        assert checked[host]["changed"] is True and {s["action"] for s in steps} == {"set_component_version"}
        mover = next(s for s in steps if s["component"] == "data_mover")
        assert (mover["record"]["Runtime"], mover["record"]["Engine"]) == ("python\\python.exe", "datamover.pyz")
        assert checked[host]["components"]["data_mover"]["record"]["Role"] == "data_mover"  # the after state
    assert_converges(
        proxy_lab, tmp_path, "backup.hyperv.proxy_components", args, "proxy_components_read", "proxy_components_apply"
    )


def test_a_service_the_manifest_no_longer_declares_is_removed_and_facts_find_the_component_by_its_record(
    proxy_lab, tmp_path
):
    # Installed as above, the data mover with its service; the next manifest declares none (it runs per job).
    install_components(proxy_lab, tmp_path)
    manifest = json.loads(json.dumps(MANIFEST["manifest"]))
    del manifest["components"][1]["service"]
    applied = converge_components(proxy_lab, tmp_path, manifest)
    options = json.dumps({"probe_timeout": 30})
    facts = ansible_adhoc(proxy_lab, tmp_path, "offhost_proxies", "-m", "backup.hyperv.host_facts", "-a", options)
    for host in PROXIES:
        steps = [(s["action"], s.get("name") or s.get("component")) for s in applied[host]["steps"]]
        assert steps == [
            ("stop_service", "BackupHyperVDataMover"),
            ("remove_service", "BackupHyperVDataMover"),
            ("set_component_version", "data_mover"),
        ], host
        mover = applied[host]["components"]["data_mover"]
        assert (mover["service"], mover["former_service"], mover["record"]["Service"]) == (None, None, None)
        components = facts[host]["ansible_facts"]["hyperv_offhost"]["components"]
        assert [(c["role"], c["name"], c["service_name"], c["version"]) for c in components] == [
            ("installer", "installer", "BackupHyperVInstaller", "0.1.0.0"),
            ("hyperv_integration", "hyperv_integration", "BackupHyperVIntegration", "0.1.0.0"),
            ("data_mover", "data_mover", None, "0.1.0"),  # by its record: no service runs it
        ], host


def test_an_upgrade_removes_the_files_the_new_version_no_longer_ships(proxy_lab, tmp_path):
    # The installed version's record lists its files; 0.2.0 of the installer ships no .config: the upgrade removes
    # it with the service stopped (else the installer service reports it as extra, drift, for good).
    install_components(proxy_lab, tmp_path)
    manifest = json.loads(json.dumps(MANIFEST["manifest"]))
    installer = manifest["components"][0]
    dropped = installer["files"].pop()
    installer["version"] = "0.2.0"
    applied = converge_components(proxy_lab, tmp_path, manifest)
    for host in PROXIES:
        steps = [(s["action"], s.get("name") or s.get("files")) for s in applied[host]["steps"]]
        assert steps[:3] == [
            ("stop_service", "BackupHyperVInstaller"),
            ("remove_files", [dropped]),
            ("copy_files", ["BackupHyperVInstaller.exe"]),
        ], steps
        assert not proxy_lab.host_file(host, "C", "Program Files", "backup.hyperv", "Installer", dropped).exists()
        assert proxy_lab.host_file(
            host, "C", "Program Files", "backup.hyperv", "Installer", installer["files"][0]
        ).exists()
