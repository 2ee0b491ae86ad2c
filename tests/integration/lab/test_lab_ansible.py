"""Ansible itself against the lab: its winrm and psrp connection plugins, and the `ansible` CLI.

The plugins are loaded with Ansible's plugin loader and configured from the inventory
`lab up` wrote, so these tests also check that inventory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader
from lab_testkit import DATA, HERE, TESTS_DIR, USERS, collection_request

# isort: split
from lab.control import AUTH_VARIABLES

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh

HOSTS = {"winrm": "hv1", "psrp": "px1"}


def host_vars(lab, host: str) -> dict:
    return yaml.safe_load(lab.inventory.read_text())["all"]["children"]["windows"]["hosts"][host]


def connect(lab, kind: str, auth: str = "basic"):
    """A connected Ansible connection plugin configured from the inventory's host of that kind."""
    variables = {**host_vars(lab, HOSTS[kind]), **AUTH_VARIABLES[auth]}  # as `lab up --auth` writes them
    assert variables["ansible_connection"] == kind
    plugin = connection_loader.get(variables["ansible_connection"], PlayContext(), None)
    plugin.set_options(var_options={"_extras": {}, **variables})
    plugin._connect()
    return plugin


@pytest.fixture(params=[(kind, auth) for auth in ("basic", "ntlm") for kind in sorted(HOSTS)], ids="-".join)
def connection(request, lab):
    plugin = connect(lab, *request.param)
    yield plugin
    plugin.close()


def test_inventory_points_ansible_at_the_lab(lab):
    for host, kind in (("hv1", "winrm"), ("px1", "psrp")):
        variables = host_vars(lab, host)
        assert (variables["ansible_host"], variables["ansible_port"]) == lab.address(host)
        assert variables["ansible_connection"] == kind
        assert variables["ansible_winrm_transport"] == "basic" and variables["ansible_psrp_auth"] == "basic"


def test_collection_command_round_trip(connection):
    rc, stdout, _ignored = connection.exec_command(_pwsh.COMMAND, in_data=collection_request("lab_echo", {"Text": "x"}))
    reply = _pwsh.decode_reply("lab_echo", {"rc": rc, "stdout": stdout.decode(), "stderr": ""})
    host = HOSTS[connection.transport]
    assert reply == {"echo": "x", "host": host, "role": {"hv1": "hyperv", "px1": "proxy"}[host]}


def test_nested_encoded_command_is_decoded_layer_by_layer(lab):
    # Not the exact prefix, so the winrm plugin encodes it once more: PowerShell running PowerShell.
    command = _pwsh.COMMAND.replace("PowerShell -NoProfile", "powershell.exe -noprofile", 1)
    plugin = connect(lab, "winrm")
    try:
        rc, stdout, _ignored = plugin.exec_command(command, in_data=collection_request("lab_long", {"Count": 7}))
    finally:
        plugin.close()
    assert rc == 0 and json.loads(stdout) == {"count": 7, "host": "hv1"}


def test_put_then_fetch_returns_the_same_bytes(connection, lab, tmp_path):
    host = HOSTS[connection.transport]
    payload = os.urandom(1_300_000)  # several chunks each way on both plugins
    (tmp_path / "source.bin").write_bytes(payload)
    connection.put_file(str(tmp_path / "source.bin"), "C:\\Windows\\Temp\\lab copy.bin")
    assert lab.host_file(host, "C", "Windows", "Temp", "lab copy.bin").read_bytes() == payload
    connection.fetch_file("C:\\Windows\\Temp\\lab copy.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == payload


def test_shell_plugin_makes_and_removes_a_temp_directory(connection, lab):
    """What ActionBase does around non-pipelined work: mkdtemp (bootstrap + manifest), then remove."""
    host = HOSTS[connection.transport]
    made = connection._shell._mkdtemp2(basefile="ansible-tmp-lab-test", tmpdir="%TEMP%")
    rc, stdout, _ignored = connection.exec_command(made.command, in_data=made.input_data)
    windows_path = stdout.decode().strip()
    user = USERS[host]
    assert (rc, windows_path) == (0, f"C:\\Users\\{user}\\AppData\\Local\\Temp\\ansible-tmp-lab-test")
    local = lab.host_file(host, "C", "Users", user, "AppData", "Local", "Temp", "ansible-tmp-lab-test")
    assert local.is_dir()
    rc, _ignored, _ignored = connection.exec_command(connection._shell.remove(windows_path, recurse=True))
    assert rc == 0 and not local.exists()


def test_put_into_a_missing_directory_fails(connection, tmp_path):
    (tmp_path / "f").write_bytes(b"1")
    with pytest.raises(AnsibleError):
        connection.put_file(str(tmp_path / "f"), "C:\\NoSuchDir\\f")


def test_fetch_of_a_missing_file_fails(connection, tmp_path):
    with pytest.raises(AnsibleError, match="failed to transfer file"):
        connection.fetch_file("C:\\Windows\\Temp\\absent.bin", str(tmp_path / "absent.bin"))


def run_ansible(lab, tmp_path: Path, *arguments: str) -> dict[str, dict]:
    """`ansible all ...` against the lab's inventory; returns each host's result (tree callback)."""
    environment = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(TESTS_DIR.parent / "build" / "collections"),
        "ANSIBLE_ACTION_PLUGINS": str(HERE / "action_plugins"),
        "ANSIBLE_LIBRARY": str(HERE / "library"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.tree",
        "ANSIBLE_CALLBACK_TREE_DIR": str(tmp_path / "tree"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
    }
    ansible = Path(sys.executable).with_name("ansible")
    command = [str(ansible), "all", "-i", str(lab.inventory), *arguments]
    subprocess.run(command, capture_output=True, env=environment, timeout=120, check=False)
    return {host: json.loads((tmp_path / "tree" / host).read_text()) for host in HOSTS.values()}


def test_ansible_runs_the_collection_protocol_once_per_host(lab, tmp_path):
    before = {host: len(lab.log(host)) for host in HOSTS.values()}
    args = json.dumps({"path": str(DATA / "lab_echo.ps1"), "params": {"Text": "from ansible"}})
    results = run_ansible(lab, tmp_path, "-m", "lab_run_script", "-a", args)
    assert {host: result["reply"]["echo"] for host, result in results.items()} == {
        "hv1": "from ansible",
        "px1": "from ansible",
    }
    for host in HOSTS.values():
        handled = [r.get("handled_by") for r in lab.log(host)[before[host] :] if r.get("handled_by")]
        assert handled == ["collection:lab_echo"]


def test_ansible_raw_is_refused_naming_the_script(lab, tmp_path):
    results = run_ansible(lab, tmp_path, "-m", "ansible.builtin.raw", "-a", "Get-Service")
    for result in results.values():
        assert result["rc"] == 1 and "unrecognised PowerShell script" in result["stderr"]


def test_ansible_powershell_module_is_answered_by_its_handler(lab, tmp_path):
    before = {host: len(lab.log(host)) for host in HOSTS.values()}
    results = run_ansible(lab, tmp_path, "-m", "lab_ps_module", "-a", "data=hello")
    assert {host: (result["ping"], result["host"]) for host, result in results.items()} == {
        "hv1": ("hello", "hv1"),
        "px1": ("hello", "px1"),
    }
    for host in HOSTS.values():  # a pipelined module: one round trip
        handled = [r["handled_by"] for r in lab.log(host)[before[host] :] if r.get("handled_by")]
        assert handled == ["ansible-module:ansible.legacy.lab_ps_module"]


def test_ansible_powershell_module_without_a_handler_is_refused_naming_it(lab, tmp_path):
    results = run_ansible(lab, tmp_path, "-m", "lab_unknown_module")
    message = "module ansible.legacy.lab_unknown_module is not emulated"
    for result in results.values():
        assert result["rc"] == 1 and message in result["module_stderr"]
