"""Service accounts as Windows takes them (issue 19): the controller sends the canonical
`NT AUTHORITY\\...` spelling, and the lab accepts what Win32_Service.Change accepts and refuses the rest."""

from __future__ import annotations

import json

import pytest
from lab_testkit import ESTATES, ProvisionedLab, ansible_adhoc, estate_lab
from test_installs_lab import MANIFEST, stage_component_sources

# isort: split
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows.hoststate import HostState

ACCEPTED = {
    "LocalSystem": "LocalSystem",
    "nt authority\\system": "LocalSystem",
    "NT AUTHORITY\\LocalService": "NT AUTHORITY\\LocalService",
    "nt authority\\NETWORKSERVICE": "NT AUTHORITY\\NetworkService",
    ".\\backup": ".\\backup",
    "CONTOSO\\svc-backup": "CONTOSO\\svc-backup",
}
REFUSED = ("LocalService", "backup", "NT AUTHORITY\\ANONYMOUS LOGON", "CONTOSO\\a\\b", "CONTOSO\\a:b", "")


def change_account(lab: ProvisionedLab, account: str) -> str:
    create = {"action": "create_service", "name": "Svc", "display_name": "Svc", "binary_path": "C:\\s.exe"}
    steps = [
        {**create, "start_mode": "manual"},
        {"action": "set_service", "name": "Svc", "changes": {"account": account}},
    ]
    lab.call("px1", "proxy_components_apply", {"Steps": steps})
    return HostState(lab.state_dir / "hosts" / "px1" / "state").read()["services"]["svc"]["StartName"]


@pytest.mark.parametrize(("account", "start_name"), ACCEPTED.items())
def test_the_lab_takes_every_spelling_windows_takes(tmp_path, account, start_name):
    assert change_account(ProvisionedLab(load_estate(ESTATES / "fresh-proxy.yml"), tmp_path), account) == start_name


@pytest.mark.parametrize("account", REFUSED)
def test_the_lab_refuses_what_win32_service_change_refuses(tmp_path, account):
    with pytest.raises(ScriptFailure, match=r"step 2 \(set_service Svc\): .*returned 22"):
        change_account(ProvisionedLab(load_estate(ESTATES / "fresh-proxy.yml"), tmp_path), account)


def test_proxy_components_installs_services_under_the_canonical_account_names(tmp_path):
    manifest = json.loads(json.dumps(MANIFEST["manifest"]))
    accounts = ["nt authority\\system", "NetworkService", "NT AUTHORITY\\LocalService"]
    for component, account in zip(manifest["components"], accounts, strict=True):
        component["service"]["account"] = account
    with estate_lab(ESTATES / "fresh-proxy.yml", tmp_path / "lab") as lab:
        stage_component_sources(lab, "px1")
        args = json.dumps({"manifest": manifest})
        applied = ansible_adhoc(lab, tmp_path, "px1", "-m", "backup.hyperv.proxy_components", "-a", args)["px1"]
        assert applied["changed"] is True and not applied.get("failed"), applied
        services = HostState(lab.state_dir / "hosts" / "px1" / "state").read()["services"]
        names = [services[c["service"]["name"].lower()]["StartName"] for c in manifest["components"]]
        assert names == ["LocalSystem", "NT AUTHORITY\\NetworkService", "NT AUTHORITY\\LocalService"]
        again = ansible_adhoc(lab, tmp_path, "px1", "-m", "backup.hyperv.proxy_components", "-a", args)["px1"]
        assert (again["changed"], again["steps"]) == (False, []), again
