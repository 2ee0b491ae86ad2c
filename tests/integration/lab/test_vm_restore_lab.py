"""Entire-VM restore on the lab (issue 13): `playbooks/restore_vm.yml` restores vm1 as a new VM and to its original
location, and `backup.hyperv.vm_restore` reports every Compare-VM incompatibility and changes nothing.

The estate is tests/lab/estates/restore.yml (healthy.yml and hv3, a Windows Server 2016 host whose only switch is
Lab); px1 is deployed by `offhost_proxy.yml` and vm1 backed up by `backup.yml` once. The data mover restores into
`\\\\fs1\\vms\\restore\\...`, which px1 and the Hyper-V hosts see alike.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab.estate.loader import load_estate
from lab.windows import hyperv
from lab.windows.storage import local_path
from lab_testkit import ESTATES, RunningLab, ansible_adhoc, run_lab
from test_site_lab import playbook, staged_lab

REPO_ROOT = Path(__file__).resolve().parents[3]
ESTATE = ESTATES / "restore.yml"
COMMON = {"backup_repository": "C:\\Backup\\restore", "backup_passphrase": "Lab-Vault-Passphrase-restore"}
VM1_DISK = "C:\\ClusterStorage\\Volume1\\vm1\\vm1.vhdx"
MODEL = load_estate(ESTATE).model
VM1 = MODEL.host("hv1").vms[0]
VM1_FOLDER_ON_PX1 = "\\\\hv1\\Volume1\\vm1"  # hv1 shares its CSV (tests/lab/estates/restore.yml)
MiB = 1 << 20
VM1_CONFIGURATION = f"C:\\ClusterStorage\\Volume1\\vm1\\Virtual Machines\\{VM1.id.upper()}.vmcx"


def host_path(lab: RunningLab, host: str, windows_path: str) -> Path:
    return local_path(MODEL, lab.state_dir, host, windows_path)


def registered(lab: RunningLab, host: str) -> dict[str, dict[str, Any]]:
    """The host's registered VMs by name, as Get-VM lists them: the estate's until a first change writes the list
    into the host's state (read here without writing it back)."""
    document = json.loads((lab.state_dir / "hosts" / host / "state" / "windows.json").read_text())
    return {entry["name"]: entry for entry in hyperv.registered(document, MODEL, host).values()}


def same_guest_content(first: Path, second: Path) -> bool:
    return subprocess.run(["qemu-img", "compare", "-q", str(first), str(second)], check=False).returncode == 0


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningLab, Path, dict[str, bytes]]]:
    """The lab with vm1 written to and backed up; a copy of its disk and configuration as the backup read them."""
    work = tmp_path_factory.mktemp("vm-restore")
    with staged_lab(ESTATE, work / "lab") as lab:
        rc, output = playbook(lab, work, REPO_ROOT / "playbooks" / "offhost_proxy.yml", {})
        assert rc == 0, output[-3000:]
        run_lab("write", "hv1", "vm1", "--percent", "30", "--seed", "restore", "--state-dir", str(lab.state_dir))
        shutil.copyfile(host_path(lab, "hv1", VM1_DISK), work / "vm1.vhdx")
        files = {"vmcx": host_path(lab, "hv1", VM1_CONFIGURATION).read_bytes()}
        rc, output = playbook(lab, work, REPO_ROOT / "playbooks" / "backup.yml", COMMON)
        assert rc == 0, output[-4000:]
        yield lab, work, files


def restore_vm(lab: RunningLab, work: Path, **variables: Any) -> tuple[int, str]:
    return playbook(lab, work, REPO_ROOT / "playbooks" / "restore_vm.yml", {**COMMON, "restore_vm": "vm1", **variables})


@pytest.mark.parametrize(
    ("variables", "options", "said"),
    [
        (
            {"restore_host": "HV1"},
            (),
            "restore_host 'HV1' is not a host of the inventory (inventory names are exact: did you mean hv1?)",
        ),
        ({"restore_host": "hv1", "restore_proxy": "px9"}, (), "restore_proxy 'px9' is not a host of the inventory."),
        ({"restore_host": "hv1"}, ("--limit", "px1"), "restore_host 'hv1' is left out of this run by the limit"),
        (  # refused by vm_restore's own checks, which the registration would only apply after the staging
            {"restore_host": "hv1", "restore_storage_path": "C:\\VMs\\copy", "restore_start": "maybe"},
            (),
            "Nothing was changed. restore_start: argument 'start' is of type str and we were unable to convert",
        ),
        (
            {"restore_host": "hv1", "restore_storage_path": "C:\\VMs\\copy", "restore_name": "VM1"},
            (),
            "Nothing was changed. restore_name: name 'VM1' is the restored VM's own name",
        ),
        (
            {"restore_host": "hv1", "restore_storage_path": "VMs\\copy"},
            (),
            "restore_storage_path: storage_path: 'VMs\\\\copy' must be an absolute Windows path",
        ),
    ],
    ids=["host in another case", "unknown proxy", "host outside the limit", "start", "own name", "relative path"],
)
def test_a_host_the_restore_names_that_the_run_cannot_reach_fails_before_anything_is_written(
    backed_up, tmp_path: Path, variables: dict[str, Any], options: tuple[str, ...], said: str
) -> None:
    # A play whose hosts pattern matches nothing is skipped with a warning: the run would end green, the disks
    # written into the staging folder and no VM registered.
    lab, _work, _files = backed_up
    staging = "\\\\fs1\\vms\\restore\\vm1-unreached"
    rc, output = playbook(
        lab,
        tmp_path,
        REPO_ROOT / "playbooks" / "restore_vm.yml",
        {**COMMON, "restore_vm": "vm1", "restore_staging": staging, "restore_name": "vm1-unreached", **variables},
        *options,
    )
    assert rc != 0 and said in output, output[-3000:]
    assert not host_path(lab, "fs1", "D:\\Shares\\vms\\restore\\vm1-unreached").exists()
    assert "vm1-unreached" not in registered(lab, "hv1")


def test_restore_as_a_new_vm(backed_up: tuple[RunningLab, Path, dict[str, bytes]], tmp_path: Path) -> None:
    lab, work, _files = backed_up
    rc, output = restore_vm(
        lab,
        tmp_path,
        restore_host="hv1",
        restore_staging="\\\\fs1\\vms\\restore\\vm1-copy",
        restore_name="vm1-copy",
        restore_storage_path="C:\\ClusterStorage\\Volume1\\vm1-copy",
        restore_start=True,
    )
    assert rc == 0, output[-4000:]
    copy = registered(lab, "hv1")["vm1-copy"]
    assert copy["state"] == "Running" and copy["clustered"], copy
    assert copy["id"] != VM1.id.lower() and registered(lab, "hv1")["vm1"]["id"] == VM1.id.lower()
    assert [d["path"] for d in copy["disks"]] == ["C:\\ClusterStorage\\Volume1\\vm1-copy\\vm1.vhdx"]
    assert same_guest_content(work / "vm1.vhdx", host_path(lab, "hv1", copy["disks"][0]["path"]))
    configuration = f"C:\\ClusterStorage\\Volume1\\vm1-copy\\Virtual Machines\\{copy['id'].upper()}.vmcx"
    assert json.loads(host_path(lab, "hv1", configuration).read_bytes())["name"] == "vm1-copy"
    assert not host_path(lab, "fs1", "D:\\Shares\\vms\\restore\\vm1-copy").exists()  # the staging is removed


@pytest.mark.parametrize("location", ["new", "original"])
def test_a_restore_point_taken_while_the_vm_had_checkpoints_is_refused_before_anything_changes(
    backed_up, tmp_path: Path, location: str
) -> None:
    """vm4 had a checkpoint when it was backed up: the backup read the checkpoint's .avhdx (its chain merged), a
    restore writes it as one full .vhdx, and vm4's configuration names the .avhdx, which no import can find. The
    run stops before vm4 is turned off or anything is written."""
    lab, _work, _files = backed_up
    before = registered(lab, "hv1")["vm4"]
    folder = host_path(lab, "hv1", "C:\\ClusterStorage\\Volume1\\vm4")
    files_before = sorted(p.name for p in folder.iterdir())
    staging = {"restore_staging": "\\\\fs1\\vms\\restore\\vm4-copy"} if location == "new" else {}
    rc, output = restore_vm(
        lab, tmp_path, restore_vm="vm4", restore_host="hv1", restore_location=location, restore_force=True, **staging
    )
    assert rc != 0 and "was taken while the VM had checkpoints" in output and "Nothing was changed" in output
    assert ".avhdx comes back as one full .vhdx" in output, output[-3000:]
    assert registered(lab, "hv1")["vm4"]["state"] == before["state"] == "Running"
    assert sorted(p.name for p in folder.iterdir()) == files_before
    assert not host_path(lab, "fs1", "D:\\Shares\\vms\\restore\\vm4-copy").exists()


def stage(lab: RunningLab, work: Path, name: str) -> str:
    """vm1's latest restore point restored by px1's data mover into \\\\fs1\\vms\\restore\\<name>."""
    folder = f"\\\\fs1\\vms\\restore\\{name}"
    secrets = {key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}
    arguments = json.dumps({"operation": "restore", "vm": "vm1", "destination": folder, **secrets})
    restored = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", arguments)["px1"]
    assert restored.get("restore_point"), restored
    return folder


def vm_restore(lab: RunningLab, work: Path, host: str, *options: str, **args: Any) -> dict[str, Any]:
    return ansible_adhoc(lab, work, host, "-m", "backup.hyperv.vm_restore", "-a", json.dumps(args), *options)[host]


def tree_digest(lab: RunningLab, host: str) -> dict[str, str]:
    root = lab.state_dir / "hosts" / host
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def kinds(result: dict[str, Any]) -> list[str]:
    return sorted(entry["kind"] for entry in result.get("incompatibilities", []))


def test_every_incompatibility_is_reported_and_nothing_changes(backed_up, tmp_path: Path) -> None:
    lab, _work, files = backed_up
    folder = stage(lab, tmp_path, "vm1-checks")
    staged = host_path(lab, "fs1", "D:\\Shares\\vms\\restore\\vm1-checks")
    assert (staged / f"{VM1.id.upper()}.vmcx").read_bytes() == files["vmcx"]  # restored byte-exact
    before = {host: tree_digest(lab, host) for host in ("hv1", "hv3", "fs1")}
    new = {"vm": "vm1", "source": folder, "location": "new", "name": "vm1-dr", "storage_path": "C:\\VMs\\vm1-dr"}

    older_host = vm_restore(lab, tmp_path, "hv3", **new)
    assert kinds(older_host) == ["switch", "version"] and older_host["msg"].startswith("nothing was changed"), (
        older_host
    )
    assert "newer than HV3 (build 14393)" in older_host["msg"] and "'LAN': <one of its switches>" in older_host["msg"]
    assert kinds(vm_restore(lab, tmp_path, "hv3", "--check", **new)) == ["switch", "version"]
    assert kinds(vm_restore(lab, tmp_path, "hv1", **{**new, "storage_path": "Q:\\VMs\\vm1-dr"})) == ["path"]
    assert kinds(vm_restore(lab, tmp_path, "hv1", **{**new, "name": "vm3"})) == ["name_taken"]
    wrong_vm = vm_restore(lab, tmp_path, "hv1", vm="vm3", source=folder, location="original", force=True)
    assert kinds(wrong_vm) == ["id_conflict"] and "Remove-VM" in wrong_vm["msg"], wrong_vm
    running = vm_restore(lab, tmp_path, "hv1", vm="vm1", source=folder, location="original")
    assert kinds(running) == ["running"] and "set force" in running["msg"], running
    assert kinds(vm_restore(lab, tmp_path, "hv1", vm="vm9", source=folder, location="original")) == ["missing_vm"]
    (staged / "vm1.vhdx").unlink()
    missing_disk = vm_restore(lab, tmp_path, "hv1", **new)
    assert kinds(missing_disk) == ["path"] and "vm1.vhdx" in missing_disk["msg"], missing_disk
    after = {host: tree_digest(lab, host) for host in ("hv1", "hv3", "fs1")}
    del before["fs1"]["fs/D/Shares/vms/restore/vm1-checks/vm1.vhdx"]
    assert after == before  # Compare-VM and the checks changed nothing

    mapped = vm_restore(lab, tmp_path, "hv1", "--check", "--diff", **{**new, "switches": {"LAN": None}})
    assert kinds(mapped) == ["path"], mapped  # the switch is mapped; the disk is still missing


def test_a_new_vm_whose_disk_folder_holds_a_file_of_its_disks_name_is_refused_and_nothing_changes(
    backed_up, tmp_path: Path
) -> None:
    """Import-VM -Copy does not overwrite a disk file of the same name in the new VM's disk folder, and Compare-VM
    does not report it: the read does, before the import copies or registers anything."""
    lab, _work, _files = backed_up
    folder = stage(lab, tmp_path, "vm1-exists")
    taken = host_path(lab, "hv1", "C:\\ClusterStorage\\Volume1\\vm1-exists\\vm1.vhdx")
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"another VM's disk")
    before = {host: tree_digest(lab, host) for host in ("hv1", "fs1")}
    new = {"vm": "vm1", "source": folder, "location": "new", "name": "vm1-exists"}
    refused = vm_restore(lab, tmp_path, "hv1", **new, storage_path="C:\\ClusterStorage\\Volume1\\vm1-exists")
    assert kinds(refused) == ["file_exists"] and refused.get("changed") is False, refused
    assert "give the new VM another disk_path" in refused["msg"], refused["msg"]
    assert {host: tree_digest(lab, host) for host in ("hv1", "fs1")} == before
    assert taken.read_bytes() == b"another VM's disk"
    elsewhere = vm_restore(
        lab,
        tmp_path,
        "hv1",
        **new,
        storage_path="C:\\ClusterStorage\\Volume1\\vm1-exists",
        disk_path="C:\\ClusterStorage\\Volume1\\vm1-exists\\disks",
    )
    assert elsewhere.get("failed") is not True and "vm1-exists" in registered(lab, "hv1"), elsewhere


def bytes_written(output: str) -> dict[str, int]:
    """What the playbook says each disk cost ("<disk>: N bytes written (...)")."""
    return {name: int(count) for name, count in re.findall(r"([\w.-]+\.vhdx): (\d+) bytes written", output)}


def test_restore_to_the_original_location(backed_up, tmp_path: Path) -> None:
    """A quick rollback: the VM is refused while it runs before anything is written, then turned off, and only the
    chunks that changed since the backup are written over its disk."""
    lab, work, files = backed_up
    changed = 3 * MiB
    run_lab("write", "hv1", "vm1", "--ranges", "8M:2M,40M:1M", "--seed", "after", "--state-dir", str(lab.state_dir))
    disk = host_path(lab, "hv1", VM1_DISK)
    assert not same_guest_content(work / "vm1.vhdx", disk)
    untouched = hashlib.sha256(disk.read_bytes()).hexdigest()
    original = {"restore_host": "hv1", "restore_location": "original", "restore_disk_folder": VM1_FOLDER_ON_PX1}
    checked = restore_vm(lab, tmp_path, **original)
    assert checked[0] != 0 and "set force" in checked[1], checked[1][-3000:]
    assert hashlib.sha256(disk.read_bytes()).hexdigest() == untouched  # refused before the data mover wrote
    rc, output = restore_vm(lab, tmp_path, **original, restore_force=True, restore_start=True)
    assert rc == 0, output[-4000:]
    vm1 = registered(lab, "hv1")["vm1"]
    assert vm1["id"] == VM1.id.lower() and vm1["state"] == "Running" and vm1["clustered"], vm1
    assert same_guest_content(work / "vm1.vhdx", disk)
    assert host_path(lab, "hv1", VM1_CONFIGURATION).read_bytes() == files["vmcx"]
    written = bytes_written(output)["vm1.vhdx"]
    assert changed <= written <= 2 * changed < VM1.disks[0].size // 8, output[-3000:]
    assert "rolled back" in output
