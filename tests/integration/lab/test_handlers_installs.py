"""The install handlers in-process: what Windows refuses, and state that carries from one call to the next
(vss_provider, proxy_components, windows_feature)."""

from __future__ import annotations

import json

import pytest
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows.hoststate import HostState
from lab.windows.pe_version import executable_bytes

PRODUCT = "{11111111-2222-3333-4444-555555555555}"
TOOL = "C:\\Program Files\\Vendor\\cfg.exe"


@pytest.fixture
def lab(tmp_path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "fresh-proxy.yml"), tmp_path)


def stage_package(lab: ProvisionedLab, version: str, path: str = "C:\\Windows\\Temp\\p.msi", **extra) -> str:
    package = {"lab_package": 1, "product_id": PRODUCT, "display_name": "Vendor VSS", "version": version, **extra}
    package.update(provider={"name": "Vendor HW", "type": "hardware"}, files={TOOL: f"{version}.0"})
    lab.host_file("px1", path).write_text(json.dumps(package))
    return path


def install_step(path: str, **extra) -> dict:
    return {"action": "install_package", "path": path, "type": "msi", "product_id": PRODUCT, "arguments": "", **extra}


def test_install_then_read_sees_product_and_provider(lab):
    path = stage_package(lab, "2.0")
    assert lab.call("px1", "vss_provider_apply", {"Steps": [install_step(path)], "Password": None})["applied"] == 1
    read = lab.call("px1", "vss_provider_read", {"Name": "Vendor HW", "ProductId": PRODUCT, "Package": path})
    assert (read["provider"]["Type"], read["product"]["DisplayVersion"], read["package"]["Exists"]) == (3, "2.0", True)
    assert read["configuration"] is None and lab.host_file("px1", TOOL).is_file()


def test_msiexec_refuses_what_is_not_a_package_and_another_version(lab):
    lab.host_file("px1", "C:\\Windows\\Temp\\junk.msi").write_bytes(b"\xd0\xcf\x11\xe0 not a lab package")
    with pytest.raises(ScriptFailure, match=r"step 1 \(install_package\): .*exit code 1620"):
        lab.call("px1", "vss_provider_apply", {"Steps": [install_step("C:\\Windows\\Temp\\junk.msi")]})
    lab.call("px1", "vss_provider_apply", {"Steps": [install_step(stage_package(lab, "2.0"))]})
    with pytest.raises(ScriptFailure, match="exit code 1638: another version"):
        lab.call("px1", "vss_provider_apply", {"Steps": [install_step(stage_package(lab, "2.1"))]})
    lab.call("px1", "vss_provider_apply", {"Steps": [install_step(stage_package(lab, "2.1"), reinstall=True)]})
    read = lab.call("px1", "vss_provider_read", {"Name": "Vendor HW", "ProductId": PRODUCT, "Package": None})
    assert read["product"]["DisplayVersion"] == "2.1" and read["package"] is None


def test_an_installer_that_asks_for_a_restart_is_said_in_the_failure_after_it_and_one_that_restarts_stops_the_run(
    lab,
):
    verify = {"action": "verify_provider", "name": "Vendor HW"}
    asks = stage_package(lab, "2.0", exit_code=3010, provider_after_restart=True)
    with pytest.raises(ScriptFailure, match=r"step 2 \(verify_provider\): .*asked for a restart \(exit code 3010\)"):
        lab.call("px1", "vss_provider_apply", {"Steps": [install_step(asks), verify]})
    restarts = stage_package(lab, "2.1", exit_code=1641)
    done = lab.call("px1", "vss_provider_apply", {"Steps": [install_step(restarts, reinstall=True), verify]})
    assert done == {"applied": 1, "reboot_required": True, "restart_started": True}  # the host is going down


def test_configuring_without_the_tool_fails_and_masks_the_password(lab):
    step = {"action": "configure_provider", "name": "Vendor HW", "command": TOOL, "arguments": "--pw {array_password}"}
    with pytest.raises(ScriptFailure, match="cannot find the file specified"):
        lab.call("px1", "vss_provider_apply", {"Steps": [step], "Password": "s3cret"})
    lab.call("px1", "vss_provider_apply", {"Steps": [install_step(stage_package(lab, "2.0"))]})
    with pytest.raises(ScriptFailure) as failure:
        lab.call(
            "px1",
            "vss_provider_apply",
            {"Steps": [{**step, "arguments": "{array_password} {bad}"}], "Password": "s3cret"},
        )
    assert "********" in str(failure.value) and "s3cret" not in str(failure.value)


def service_steps(binary: str) -> list[dict]:
    create = {"action": "create_service", "name": "Svc", "display_name": "Svc", "binary_path": binary}
    create.update(start_mode="delayed_auto", account="NT AUTHORITY\\LocalService", dependencies=[])
    dependent = {**create, "name": "Dep", "display_name": "Dep", "dependencies": ["Svc"], "start_mode": "auto"}
    return [create, dependent, {"action": "start_service", "name": "Dep"}]


def read_service(lab: ProvisionedLab, name: str) -> dict | None:
    component = {
        "Name": name,
        "Source": "C:\\S",
        "Destination": "C:\\D",
        "Files": [],
        "Service": name,
        "Parameters": [],
    }
    return lab.call("px1", "proxy_components_read", {"Components": [component]})["components"][0]["Service"]


def read_record(lab: ProvisionedLab, name: str) -> tuple:
    component = {"Name": name, "Source": "C:\\S", "Destination": "C:\\D", "Files": [], "Service": name}
    read = lab.call("px1", "proxy_components_read", {"Components": [{**component, "Parameters": []}]})
    return read["components"][0]["Version"], read["components"][0]["Record"]


def test_the_component_record_holds_what_the_step_says_and_loses_what_it_nulls(lab):
    assert read_record(lab, "dm") == (None, None)  # no key
    location = {"Role": "data_mover", "Destination": "C:\\DM", "Runtime": "py\\python.exe", "Engine": "e.pyz"}
    step = {"action": "set_component_version", "component": "dm", "version": "1.0", "record": location}
    lab.call("px1", "proxy_components_apply", {"Steps": [step]})
    assert read_record(lab, "dm") == ("1.0", {"Version": "1.0", **location})
    step["record"] = {**location, "Role": "other", "Runtime": None, "Engine": None}
    lab.call("px1", "proxy_components_apply", {"Steps": [step]})
    assert read_record(lab, "dm") == ("1.0", {"Version": "1.0", "Role": "other", "Destination": "C:\\DM"})


def test_a_component_without_service_reads_none_and_the_service_its_record_names_as_former(lab):
    lab.host_file("px1", "C:\\App\\svc.exe").parent.mkdir(parents=True)
    lab.host_file("px1", "C:\\App\\svc.exe").write_bytes(executable_bytes("1.2.3.4"))
    lab.call("px1", "proxy_components_apply", {"Steps": service_steps('"C:\\App\\svc.exe" --run')[:1]})
    record = {"Role": "other", "Destination": "C:\\D", "Service": "svc"}  # Windows matches service names case-blind
    step = {"action": "set_component_version", "component": "c", "version": "1.0", "record": record}
    lab.call("px1", "proxy_components_apply", {"Steps": [step]})
    component = {"Name": "c", "Source": "C:\\S", "Destination": "C:\\D", "Files": [], "Parameters": []}

    def read(declared: str | None) -> dict:
        reply = lab.call("px1", "proxy_components_read", {"Components": [{**component, "Service": declared}]})
        return reply["components"][0]

    without = read(None)
    assert without["Service"] is None and without["FormerService"]["Name"] == "Svc"
    assert read("SVC")["FormerService"] is None and read("SVC")["Service"]["Name"] == "Svc"  # declared: not former
    assert read("Other")["FormerService"]["Name"] == "Svc"  # renamed in the manifest
    lab.call("px1", "proxy_components_apply", {"Steps": [{**step, "record": {**record, "Service": "bad name;"}}]})
    assert read(None)["FormerService"] is None  # not a service name: never looked up


def test_a_service_without_its_executable_does_not_start(lab):
    with pytest.raises(ScriptFailure, match=r"step 3 \(start_service Dep\): .*cannot be started"):
        lab.call("px1", "proxy_components_apply", {"Steps": service_steps('"C:\\App\\svc.exe" --run')})
    assert read_service(lab, "Svc")["State"] == "Stopped"  # steps before the failure stay applied


def test_stopping_a_service_restarts_its_running_dependents_at_the_end(lab):
    lab.host_file("px1", "C:\\App\\svc.exe").parent.mkdir(parents=True)
    lab.host_file("px1", "C:\\App\\svc.exe").write_bytes(executable_bytes("1.2.3.4"))
    lab.call("px1", "proxy_components_apply", {"Steps": service_steps('"C:\\App\\svc.exe" --run')})
    svc = read_service(lab, "Svc")
    assert (svc["State"], svc["StartMode"], svc["DelayedAutoStart"], svc["StartName"]) == (
        "Running",
        "Auto",
        True,
        "NT AUTHORITY\\LocalService",
    )
    stop_svc = {"Steps": [{"action": "stop_service", "name": "Svc"}]}
    lab.call("px1", "proxy_components_apply", stop_svc)  # Dep stops with it, is started again, and starts Svc
    assert (read_service(lab, "Svc")["State"], read_service(lab, "Dep")["State"]) == ("Running", "Running")
    lab.call("px1", "proxy_components_apply", {"Steps": [{"action": "stop_service", "name": "Dep"}]})
    lab.call("px1", "proxy_components_apply", stop_svc)  # a stopped dependent stays stopped
    assert (read_service(lab, "Svc")["State"], read_service(lab, "Dep")["State"]) == ("Stopped", "Stopped")
    recovery = {
        "action": "set_recovery",
        "name": "Svc",
        "reset_period": 60,
        "actions": [{"type": "reboot", "delay_ms": 5}],
    }
    lab.call("px1", "proxy_components_apply", {"Steps": [recovery, {"action": "remove_service", "name": "Dep"}]})
    recovered = {"reset_period": 60, "actions": [{"type": "reboot", "delay_ms": 5}], "non_crash_failures": True}
    assert read_service(lab, "Svc")["Recovery"] == recovered  # sc.exe failureflag Svc 1 with the actions
    assert read_service(lab, "Dep") is None


def test_what_the_service_control_manager_refuses(lab):
    # ChangeServiceConfigW/CreateServiceW: a circular dependency (1059), a name another service has as its name or
    # display name (1078); StartService of a service whose dependency does not exist (1075); and recovery without
    # actions deletes the reset period (SERVICE_FAILURE_ACTIONSW).
    lab.host_file("px1", "C:\\App\\svc.exe").parent.mkdir(parents=True)
    lab.host_file("px1", "C:\\App\\svc.exe").write_bytes(executable_bytes("1.2.3.4"))
    lab.call("px1", "proxy_components_apply", {"Steps": service_steps('"C:\\App\\svc.exe" --run')[:2]})
    circular = {"action": "set_service", "name": "Svc", "changes": {"dependencies": ["Dep"]}}
    with pytest.raises(ScriptFailure, match=r"1059: .*Circular service dependency"):
        lab.call("px1", "proxy_components_apply", {"Steps": [circular]})
    assert read_service(lab, "Svc")["DependOnService"] == []  # refused before anything changed
    renamed = {"action": "set_service", "name": "Svc", "changes": {"display_name": "dep"}}
    with pytest.raises(ScriptFailure, match="already in use as either a service name or a service display name"):
        lab.call("px1", "proxy_components_apply", {"Steps": [renamed]})
    clash = {**service_steps("C:\\App\\svc.exe")[0], "name": "Other", "display_name": "SVC"}
    with pytest.raises(ScriptFailure, match="cannot be created due to the following error: The name is already"):
        lab.call("px1", "proxy_components_apply", {"Steps": [clash]})
    missing = {"action": "set_service", "name": "Svc", "changes": {"dependencies": ["NoSuchService"]}}
    lab.call("px1", "proxy_components_apply", {"Steps": [missing]})
    with pytest.raises(ScriptFailure, match="The dependency service does not exist or has been marked for deletion"):
        lab.call("px1", "proxy_components_apply", {"Steps": [{"action": "start_service", "name": "Svc"}]})
    system = {"action": "set_service", "name": "Svc", "changes": {"dependencies": ["RpcSs", "Tcpip"]}}
    lab.call("px1", "proxy_components_apply", {"Steps": [system, {"action": "start_service", "name": "Svc"}]})
    assert read_service(lab, "Svc")["State"] == "Running"  # Windows' own services are there
    none = {"action": "set_recovery", "name": "Svc", "reset_period": 86400, "actions": []}
    lab.call("px1", "proxy_components_apply", {"Steps": [none]})
    assert read_service(lab, "Svc")["Recovery"] == {"reset_period": 0, "actions": [], "non_crash_failures": False}


def test_features_install_now_or_after_a_restart_and_show_in_the_facts(lab):
    names = ["Hyper-V", "FS-Data-Deduplication", "Failover-Clustering", "No-Such-Feature"]
    before = lab.call("px1", "windows_feature_read", {"Name": names})["features"]
    assert [(f["Name"], f["InstallState"]) for f in before] == [
        ("Hyper-V", "Installed"),
        ("FS-Data-Deduplication", "Available"),
        ("Failover-Clustering", "Available"),
    ]
    step = {"action": "install_features", "names": ["FS-Data-Deduplication"]}
    reply = lab.call("px1", "windows_feature_apply", {"Steps": [step]})
    assert (reply["reboot_required"], reply["results"][0]["exit_code"]) == (False, "Success")
    facts = lab.call("px1", "host_facts", {"ProbeTimeout": 5, "Components": []})
    dedup = next(f for f in facts["features"] if f["name"] == "FS-Data-Deduplication")
    assert (dedup["installed"], dedup["version"]) == (True, "10.0.20348.2340")
    removal = lab.call(
        "px1", "windows_feature_apply", {"Steps": [{"action": "uninstall_features", "names": ["Hyper-V"]}]}
    )
    assert removal["reboot_required"] is True
    assert (
        lab.call("px1", "windows_feature_read", {"Name": ["Hyper-V"]})["features"][0]["InstallState"]
        == "UninstallPending"
    )
    with pytest.raises(ScriptFailure, match=r"step 1 \(install_features Web-Server\)"):
        lab.call("px1", "windows_feature_apply", {"Steps": [{"action": "install_features", "names": ["Web-Server"]}]})


def test_a_dword_parameter_above_int32_reads_back_as_the_manifest_wrote_it(lab):
    # RegistryKey.GetValue gives a REG_DWORD as an Int32 (4294967295 is -1); the read script turns it back, or the
    # plan would restart the service on every run to set a value that is already there.
    lab.host_file("px1", "C:\\App\\svc.exe").parent.mkdir(parents=True)
    lab.host_file("px1", "C:\\App\\svc.exe").write_bytes(executable_bytes("1.2.3.4"))
    lab.call("px1", "proxy_components_apply", {"Steps": service_steps('"C:\\App\\svc.exe" --run')[:1]})
    values = {"Big": 4294967295, "Edge": 2147483648, "Small": 7, "On": True, "Text": "x"}
    lab.call(
        "px1",
        "proxy_components_apply",
        {"Steps": [{"action": "set_service_parameters", "name": "Svc", "values": values}]},
    )
    component = {"Name": "Svc", "Source": "C:\\S", "Destination": "C:\\D", "Files": [], "Service": "Svc"}
    read = lab.call("px1", "proxy_components_read", {"Components": [{**component, "Parameters": list(values)}]})
    assert read["components"][0]["Service"]["Parameters"] == values


def test_a_running_data_mover_job_is_a_program_under_the_component_folder(lab):
    # What Win32_Process shows while a job runs: the data mover component's python.exe (the scheduled task's action).
    record = {"Role": "data_mover", "Destination": "C:\\DM", "Runtime": "python\\python.exe", "Engine": "e.pyz"}
    step = {"action": "set_component_version", "component": "dm", "version": "1.0", "record": record}
    lab.call("px1", "proxy_components_apply", {"Steps": [step]})
    with HostState(lab.contexts["px1"].state_dir).edit() as host:
        host.setdefault("scheduled_tasks", {})["\\backup.hyperv\\data mover 1"] = {
            "state": "Running",
            "executable": "C:\\DM\\python\\python.exe",
        }
    component = {"Name": "dm", "Source": "C:\\S", "Destination": "C:\\DM", "Files": [], "Parameters": []}
    read = lab.call("px1", "proxy_components_read", {"Components": [component, {**component, "Destination": "C:\\D"}]})
    assert [c["Programs"] for c in read["components"]] == [[{"Id": 4100, "Path": "C:\\DM\\python\\python.exe"}], []]
