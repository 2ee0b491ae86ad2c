"""The installer service (`make proxy-package`'s installer/) under Wine's service control manager.

Installed as the `managed_server` role's default manifest says (files under `destination`, the component
record in the registry, the service created with `sc create` and the manifest's binary path and account),
started with `sc start`; its status file says the component is as built; stopped with `sc stop`, one installed
file changed and one added, started again: it reports both; `sc stop` stops it. (Wine's sc has no `control`,
so the test restarts the service rather than sending control 128, "check now".) About 15 s here; fails above 90 s.
Wine keeps no event log: its ReportEventW is a stub that returns success and traces its arguments on the
`advapi` fixme channel, so the events are read from that trace (type and event id) and from the status file.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path, PureWindowsPath
from typing import Any, Callable, Iterator

import pytest
import yaml
from lab.windows.pe_version import file_version
from rig import REPO_ROOT, WineRig, built_package, proxy_package_tool

TIME_LIMIT = 90.0
WAIT = 30.0  # seconds to wait for one state of the service or one check
DEFAULTS = REPO_ROOT / "roles" / "managed_server" / "defaults" / "main.yml"
RECORD = r"HKLM\SOFTWARE\backup.hyperv\Components"
STATUS_NAME = "installer-status.json"
TRACE_CHANNELS = "-all,fixme+advapi"  # Wine's ReportEventW stub: "ReportEventW (handle,type,category,id,..."


def installer_component() -> dict[str, Any]:
    [component] = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))["managed_server_installer_manifest"][
        "components"
    ]
    return component


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WineRig]:
    scratch = tmp_path_factory.mktemp("wine-installer")
    rig = WineRig(scratch / "prefix", scratch / "drive-d", built_package())
    rig.start()
    rig.start_session(scratch / "session.log", TRACE_CHANNELS)
    yield rig
    rig.stop()


def install(rig: WineRig, component: dict[str, Any]) -> None:
    """What backup.hyperv.proxy_package and proxy_components leave on a server: the package's SHA256SUMS and
    installer folder staged, the files copied to `destination`, the component record written."""
    source = PureWindowsPath(component["source"])
    shutil.copytree(rig.package / "installer", rig.local_path(str(source)))
    shutil.copy(rig.package / "SHA256SUMS", rig.local_path(str(source.parent / "SHA256SUMS")))
    shutil.copytree(rig.package / "installer", rig.local_path(component["destination"]))
    record = {"Version": component["version"], "Role": component["role"], "Destination": component["destination"]}
    for name, value in record.items():
        done = rig.windows("reg", "add", f"{RECORD}\\{component['name']}", "/v", name, "/d", value, "/f")
        assert done.returncode == 0, done.stdout + done.stderr


def sc(rig: WineRig, *arguments: str) -> str:
    done = rig.windows("sc", *arguments)
    assert done.returncode == 0, (arguments, done.stdout, done.stderr)
    return done.stdout


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """The first true result of `probe`, polled for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {WAIT:.0f} s")


def service_state(rig: WineRig, name: str) -> str:
    return sc(rig, "query", name)


def written_status(path: Path) -> dict[str, Any] | None:
    """The status file's document once the service wrote it (it replaces the file in one step)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def reported_events(rig: WineRig) -> list[tuple[int, int]]:
    """(type, event id) of each ReportEventW call the session's trace shows."""
    trace = (rig.prefix.parent / "session.log").read_text(encoding="utf-8", errors="replace")
    calls = re.findall(r"ReportEventW \(\w+,0x(\w+),0x\w+,0x(\w+),", trace)
    return [(int(event_type, 16), int(event_id, 16)) for event_type, event_id in calls]


def test_default_manifest_lists_exactly_the_built_installer() -> None:
    assert proxy_package_tool().manifest_drift(built_package()) == []


def test_the_executable_carries_the_component_version_that_host_facts_reads() -> None:
    version = file_version(built_package() / "installer" / "BackupHyperVInstaller.exe")
    assert version == installer_component()["version"] + ".0"


def test_installer_service_reports_drift_under_the_service_control_manager(rig: WineRig) -> None:
    started = time.monotonic()
    component = installer_component()
    service = component["service"]
    install(rig, component)
    status_file = rig.local_path(component["destination"]) / STATUS_NAME

    sc(rig, "create", service["name"], "binPath=", service["binary_path"], "start=", "auto", "obj=", service["account"])
    sc(rig, "start", service["name"])
    wait_for("RUNNING", lambda: "RUNNING" in service_state(rig, service["name"]))
    first = wait_for("first check", lambda: written_status(status_file))
    [installed] = first["components"]
    assert (first["drift"], installed["name"], installed["error"], installed["drift"]) == (False, "installer", None, [])
    assert first["event"] == {"id": 1, "written": True, "repeated": False}

    sc(rig, "stop", service["name"])
    wait_for("STOPPED", lambda: "STOPPED" in service_state(rig, service["name"]))
    changed = rig.local_path(component["destination"]) / "python" / "LICENSE.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "changed on the server\n", encoding="utf-8")
    (changed.parent / "notes.txt").write_text("not the package's\n", encoding="utf-8")
    status_file.unlink()
    sc(rig, "start", service["name"])  # Wine's sc has no `control`: a restart, not control 128, checks again
    second = wait_for("check after the restart", lambda: written_status(status_file))
    assert second["components"][0]["drift"] == [
        {"path": r"python\LICENSE.txt", "kind": "changed"},
        {"path": r"python\notes.txt", "kind": "extra"},
    ]
    assert second["event"] == {"id": 2, "written": True, "repeated": False}
    assert reported_events(rig) == [(4, 1), (2, 2)]  # information "as built", then warning "drift"

    sc(rig, "stop", service["name"])
    wait_for("STOPPED", lambda: "STOPPED" in service_state(rig, service["name"]))
    assert time.monotonic() - started < TIME_LIMIT
