"""`backup.hyperv.data_mover` on lab proxies through `ansible-playbook`: the installed engine, one round trip a task.

px1 is reached over psrp, px2 over winrm (tests/lab/estates/fresh-proxy.yml). Without the data mover
component a task fails with R3 and says how to install it. With it (installed by
`backup.hyperv.proxy_components` from the default manifest with the engine file renamed, so the
task must read the layout from `offhost_proxy_manifest`), a real qemu-img VHDX on the emulated
host is backed up into an encrypted repository, verified and restored by the collection's engine,
which the lab runs on the host's files; `qemu-img compare` finds the restored disk equal to the
original, and the passphrase appears nowhere in Ansible's output. UNC paths reach the SMB
server's share (healthy.yml, handler called in-process).
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from lab_testkit import ESTATES, ProvisionedLab, ansible_environment, estate_lab, handled_since
from test_installs_lab import MANIFEST, stage_component_sources

# isort: split
from lab.estate import load_estate
from lab.handlers import ScriptFailure
from lab.handlers.data_mover import split_command_line

from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_remote import DEFAULT_LAYOUT

PROXIES = ("px1", "px2")
PASSPHRASE = "Lab-Vault-Passphrase-7f3c"
DISK = "C:\\VMs\\web01\\web01-os.vhdx"
REPOSITORY = "C:\\Backup\\repo"
DESTINATION = "C:\\Restore\\web01"
DISK_SIZE = 64 << 20
ENGINE = "engine\\datamover-0.1.pyz"
RANGES = {DISK: [{"offset": 5 << 20, "length": 65536}]}  # keyed by the Windows path, as RCT reports it


def windows_file(lab, host: str, windows_path: str) -> Path:
    return lab.host_file(host, windows_path[0], *windows_path[3:].split("\\"))


def make_vhdx(work: Path) -> Path:
    """A dynamic VHDX with scattered data, repeated blocks and holes: qemu-img writes it from a raw image."""
    raw = work / "web01-os.raw"
    generator = random.Random(7)
    block = generator.randbytes(1 << 20)
    with raw.open("wb") as image:
        image.truncate(DISK_SIZE)
        for offset in (0, 5 << 20, 9 << 20, 40 << 20):
            image.seek(offset)
            image.write(generator.randbytes(1 << 20))
        for offset in (20 << 20, 33 << 20):  # the same block twice: stored once
            image.seek(offset)
            image.write(block)
    vhdx = work / "web01-os.vhdx"
    convert = ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", str(raw), str(vhdx)]
    subprocess.run(convert, check=True, timeout=60)
    return vhdx


def run_playbook(lab, work: Path, name: str, plays: list[dict]) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook -v` of `plays`; the passphrase comes from a vars file, as from a vault."""
    playbook, secrets = work / f"{name}.yml", work / "secrets.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    secrets.write_text(yaml.safe_dump({"vault_passphrase": PASSPHRASE}))
    ansible_playbook = str(Path(sys.executable).with_name("ansible-playbook"))
    command = [ansible_playbook, "-i", str(lab.inventory), "-e", f"@{secrets}", str(playbook), "-v"]
    return subprocess.run(
        command, capture_output=True, text=True, env=ansible_environment(work), timeout=300, check=False
    )


def data_mover_task(register: str, **args) -> dict:
    return {"name": register, "backup.hyperv.data_mover": args, "register": register}


def save_results_play(work: Path, names: tuple[str, ...]) -> dict:
    """A localhost play writing each proxy's registered results to results-<host>.json."""
    tasks = [
        {
            "ansible.builtin.copy": {
                "content": "{{ {" + ", ".join(f"'{n}': hostvars[item].{n}" for n in names) + "} | to_json }}",
                "dest": f"{work}/results-{{{{ item }}}}.json",
                "mode": "0600",
            },
            "loop": list(PROXIES),
        }
    ]
    return {"hosts": "localhost", "gather_facts": False, "tasks": tasks}


def saved(work: Path, host: str) -> dict:
    return json.loads((work / f"results-{host}.json").read_text())


@pytest.fixture
def proxy_lab(tmp_path: Path):
    with estate_lab(ESTATES / "fresh-proxy.yml", tmp_path / "lab") as lab:
        yield lab


def test_without_the_component_the_task_fails_with_r3(proxy_lab, tmp_path):
    before = {host: len(proxy_lab.log(host)) for host in PROXIES}
    task = data_mover_task("listed", operation="list", repository=REPOSITORY)
    play = {"hosts": "offhost_proxies", "gather_facts": False, "tasks": [{**task, "ignore_errors": True}]}
    completed = run_playbook(proxy_lab, tmp_path, "r3", [play, save_results_play(tmp_path, ("listed",))])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for host in PROXIES:
        result = saved(tmp_path, host)["listed"]
        assert result["failed"] is True
        assert result["msg"].startswith("R3: the data mover component 'data_mover' is not installed on " + host)
        assert "backup.hyperv.offhost_proxy" in result["msg"] and "backup.hyperv.proxy_components" in result["msg"]
        assert handled_since(proxy_lab, host, before[host]) == ["collection:data_mover_run"]


def test_backup_verify_restore_over_psrp_and_winrm(proxy_lab, tmp_path):
    original = make_vhdx(tmp_path)
    manifest = copy.deepcopy(MANIFEST["manifest"])
    mover = next(component for component in manifest["components"] if component["role"] == "data_mover")
    # Not the default layout's datamover.pyz: the task must read the layout from the manifest.
    mover["files"] = [ENGINE if path == "datamover.pyz" else path for path in mover["files"]]
    for host in PROXIES:
        stage_component_sources(proxy_lab, host)
        engine = windows_file(proxy_lab, host, f"{mover['source']}\\{ENGINE}")
        engine.parent.mkdir(parents=True, exist_ok=True)
        engine.write_bytes(b"PK placeholder of the engine's zip application")
        target = windows_file(proxy_lab, host, DISK)
        target.parent.mkdir(parents=True)
        target.write_bytes(original.read_bytes())
    common = {"repository": REPOSITORY, "passphrase": "{{ vault_passphrase }}"}
    tasks = [
        {"name": "install", "backup.hyperv.proxy_components": {"manifest": "{{ offhost_proxy_manifest }}"}},
        data_mover_task("estimated", operation="backup", vm="web01", source=[DISK], **common),
        data_mover_task("stored", operation="backup", vm="web01", source=[DISK], encryption="aes-256-gcm", **common),
        data_mover_task("verified", operation="verify", **common),
        data_mover_task("restored", operation="restore", vm="web01", destination=DESTINATION, **common),
        data_mover_task("incremental", operation="backup", vm="web01", source=[DISK], changed_ranges=RANGES, **common),
        data_mover_task("refused", operation="list", repository=REPOSITORY, passphrase="not-the-passphrase"),
    ]
    tasks[1]["check_mode"] = True
    tasks[-1]["ignore_errors"] = True
    plays = [
        # The role's variable: the data mover task reads the component's layout from it too.
        {
            "hosts": "offhost_proxies",
            "gather_facts": False,
            "vars": {"offhost_proxy_manifest": manifest},
            "tasks": tasks,
        },
        save_results_play(tmp_path, ("estimated", "stored", "verified", "restored", "incremental", "refused")),
    ]
    before = {host: len(proxy_lab.log(host)) for host in PROXIES}
    completed = run_playbook(proxy_lab, tmp_path, "backup", plays)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert PASSPHRASE not in completed.stdout + completed.stderr
    for host in PROXIES:
        results = saved(tmp_path, host)
        assert PASSPHRASE not in json.dumps(results)
        round_trips = handled_since(proxy_lab, host, before[host])
        assert round_trips[-6:] == ["collection:data_mover_run"] * 6, round_trips
        stored, estimated = results["stored"], results["estimated"]
        assert estimated["restore_point"] is None and estimated["stats"]["chunks_new"] == stored["stats"]["chunks_new"]
        assert stored["changed"] is True and stored["disks"][0]["source"] == DISK
        assert stored["stats"]["chunks_reused"] >= 1  # the repeated block
        assert results["verified"]["ok"] is True and results["verified"]["checked_chunks"] > 0
        restored = results["restored"]
        assert restored["restore_point"] == stored["restore_point"]
        assert restored["outputs"][0]["path"] == DESTINATION + "\\web01-os.vhdx"
        restored_disk = windows_file(proxy_lab, host, DESTINATION + "\\web01-os.vhdx")
        compare = ["qemu-img", "compare", "-q", str(original), str(restored_disk)]
        compared = subprocess.run(compare, timeout=60, check=False)
        assert compared.returncode == 0, f"{host}: the restored disk differs from the original"
        assert results["incremental"]["incremental"]["web01-os.vhdx"]["mode"] == "changed_ranges"
        assert results["refused"]["msg"] == "data mover: wrong passphrase: it does not unlock the repository key"
        repository = windows_file(proxy_lab, host, REPOSITORY)
        assert not any(PASSPHRASE.encode() in p.read_bytes() for p in repository.rglob("*") if p.is_file())
    inventory = yaml.safe_load(proxy_lab.inventory.read_text())["all"]["children"]["windows"]["hosts"]
    transports = {host: inventory[host]["ansible_connection"] for host in PROXIES}
    assert transports == {"px1": "psrp", "px2": "winrm"}


@given(st.lists(st.text(alphabet=st.sampled_from(' a\\"\tC:'), max_size=8), max_size=5))
def test_the_lab_splits_command_lines_as_the_c_runtime(arguments):
    # list2cmdline quotes by the Microsoft C runtime rules; the lab must split its output back.
    assert split_command_line(subprocess.list2cmdline(arguments)) == arguments


def run_params(*arguments: str, ranges: dict | None = None) -> dict:
    """data_mover_run.ps1's parameters as the action plugin sends them."""
    command_line = subprocess.list2cmdline([*arguments, "--json", "--no-progress"])
    changed = json.dumps(ranges) if ranges else ""
    return {"Component": DEFAULT_LAYOUT, "CommandLine": command_line, "ChangedRanges": changed, "Passphrase": ""}


def test_unc_paths_are_the_smb_servers_share_and_come_back_as_unc(tmp_path):
    lab = ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path)
    steps = [{"action": "set_component_version", "component": "data_mover", "version": "0.1.0"}]
    lab.call("px1", "proxy_components_apply", {"Steps": steps})  # the record, as proxy_components writes it
    destination = DEFAULT_LAYOUT["Destination"]
    for relative in (DEFAULT_LAYOUT["Runtime"], DEFAULT_LAYOUT["Engine"]):
        target = lab.host_file("px1", f"{destination}\\{relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"placeholder")
    disk, repository = "\\\\fs1\\vms\\vm3\\vm3.vhdx", "\\\\fs1\\vms\\repo"
    reply = lab.call(
        "px1", "data_mover_run", run_params("backup", repository, disk, "--vm", "vm3", ranges={disk: [[0, 4096]]})
    )
    assert (reply["ran"], reply["exit_code"]) == (True, 0), reply["stderr"]
    assert json.loads(reply["stdout"])["disks"][0]["source"] == disk  # the ranges' key was mapped like the source
    assert any(lab.host_file("fs1", "D:\\Shares\\vms\\repo").iterdir())  # on the file server, not the proxy
    reply = lab.call("px1", "data_mover_run", run_params("restore", repository, "C:\\Restore", "--vm", "vm3"))
    assert json.loads(reply["stdout"])["outputs"][0]["path"] == "C:\\Restore\\vm3.vhdx"
    reply = lab.call("px1", "data_mover_run", run_params("list", "C:\\Backup\\none"))
    assert reply["exit_code"] == 1 and "C:\\Backup\\none" in reply["stderr"] and str(tmp_path) not in reply["stderr"]
    device = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy1\\vm3.vhdx"
    with pytest.raises(ScriptFailure, match="not emulated"):
        lab.call("px1", "data_mover_run", run_params("backup", repository, device, "--vm", "vm3"))
