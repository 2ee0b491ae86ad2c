"""`playbooks/backup.yml` with VMs whose files are on disks of the Hyper-V host itself
(tests/lab/estates/local-storage.yml). An off-host proxy imports hardware snapshots of SAN LUNs; Windows refuses a
volume no VSS provider supports in a transportable set (`add volume` fails with VSS_E_VOLUME_NOT_SUPPORTED,
IVssBackupComponents::AddToSnapshotSet), which would stop the set of every VM sharing its volume group. vm5 (its
configuration on C:\\, its disk on the CSV of vm1) fails alone, naming C:\\ and the remedy, and vm1 in its group is
stored; vm6 (on D:\\) and vm7 (no disk, its configuration on C:\\) fail with their groups; vm8, with a pass-through
disk, is left out by the plan before any checkpoint; vm2 and vm3 are stored; the hosts keep no shadow copy, recovery
checkpoint or reference point of a VM that failed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab, ansible_adhoc, run_lab
from test_site_lab import playbook, proxy_lab

# isort: split
from lab.estate.loader import load_estate
from lab.windows.hoststate import HostState

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
COMMON = {"backup_repository": "C:\\Backup\\local", "backup_passphrase": "Lab-Vault-Passphrase-local"}
NOT_SUPPORTED = (
    "no VSS provider of this host can put {} in a transportable shadow copy set (VSS_E_VOLUME_NOT_SUPPORTED)"
)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with proxy_lab(ESTATES / "local-storage.yml", tmp_path_factory.mktemp("backup-local-storage")) as lab:
        yield lab


def stored_vms(lab: RunningLab, work: Path) -> set[str]:
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    result = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))["px1"]
    return {vm for vm, points in result.get("vms", {}).items() if points}


def failures(output: str) -> dict[str, str]:
    """Each failed VM's reason, from the run's last failure message ("Backup failed on px1 for: vm: why; ...")."""
    message = json.loads(output[output.rindex("fatal: [px1]") :].split("=> ", 1)[1].split("\n\nPLAY RECAP")[0])["msg"]
    listed = message.split("Backup failed on px1 for: ", 1)[1].split(". px1: ")[0]
    return dict(item.split(": ", 1) for item in listed.split("; hv"))


def test_a_vm_with_files_on_a_disk_of_the_host_fails_alone_and_its_group_is_stored(
    deployed: RunningLab, tmp_path: Path
) -> None:
    run_lab("stats", "--reset", "--state-dir", str(deployed.state_dir))
    rc, output = playbook(deployed, tmp_path, BACKUP, COMMON)
    assert rc != 0, output[-3000:]
    assert re.search(r"item=hv1#\d+: (vm1, vm5|vm5, vm1)\)", output), output  # one volume group, one set
    failed = {vm.removeprefix("hv1/").removeprefix("1/"): why for vm, why in failures(output).items()}
    assert set(failed) == {"vm5", "vm6", "vm7"}, failed
    assert failed["vm5"].startswith("shadow copy: " + NOT_SUPPORTED.format("C:\\")), failed["vm5"]
    assert "Move-VMStorage" in failed["vm5"]
    assert NOT_SUPPORTED.format("D:\\") in failed["vm6"], failed["vm6"]
    assert NOT_SUPPORTED.format("C:\\") in failed["vm7"], failed["vm7"]
    assert stored_vms(deployed, tmp_path) == {"vm1", "vm2", "vm3"}
    for host in ("hv1", "hv2"):
        state = HostState(deployed.state_dir / "hosts" / host / "state").read()
        assert not state.get("shadow_copies"), (host, state.get("shadow_copies"))
        for record in state.get("change_tracking", {}).get("vms", {}).values():
            assert not record["checkpoint"], (host, record)
    # vm8's pass-through disk: left out by the plan, before any checkpoint (so it holds no record on hv1)
    assert "Left out of the plan: hv1/vm8: its pass-through disk(s) (Disk 3 " in output, output[-3000:]
    names = {vm.id.lower(): vm.name for vm in load_estate(ESTATES / "local-storage.yml").model.host("hv1").vms}
    held = HostState(deployed.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"]
    # vm5's checkpoint was converted with vm1's (the batch after the set), and the release dropped its point
    assert {names[vm_id] for vm_id, record in held.items() if record["reference_points"]} == {"vm1", "vm3"}
    assert "vm8" not in {names[vm_id] for vm_id in held}
    assert not HostState(deployed.state_dir / "hosts" / "px1" / "state").read().get("shadow_copies")


def test_a_pass_through_disk_the_plan_did_not_see_is_refused_by_the_shadow_copys_read(
    deployed: RunningLab, tmp_path: Path
) -> None:
    """group_snapshot asked for vm8 (as if it got its pass-through disk after the plan): its checkpoint leaves the
    physical disk out, the read names it, and the release destroys the checkpoint; nothing is shadowed."""
    taken = ansible_adhoc(deployed, tmp_path, "hv1", "-m", "backup.hyperv.group_snapshot", "-a", '{"vms": ["vm8"]}')
    result = taken["hv1"]
    assert "its pass-through disk(s) (Disk 3 10.00 GB" in result["refused"]["vm8"], result
    assert result.get("shadow") is None, result
    checkpoint = result["checkpoint"]["vms"]["vm8"]["checkpoint"]
    release = json.dumps({"state": "absent", "release": {"vm8": {"checkpoint": checkpoint}}})
    done = ansible_adhoc(deployed, tmp_path, "hv1", "-m", "backup.hyperv.group_snapshot", "-a", release)["hv1"]
    assert done["change_tracking"]["released"]["vm8"]["checkpoints"] == [checkpoint], done
