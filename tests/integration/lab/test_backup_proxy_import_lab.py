"""`playbooks/backup.yml` where the proxy cannot import a transportable shadow copy set: px1's DiskShadow reports
success for `import` and leaves the set on the source host only (the estate's `diskshadow_no_op`, issue 19), so the
expose that follows finds no such shadow copy and DiskShadow fails. The import runs in the data mover's task
(`data_mover` with `shadow_copy`): each VM of a CSV group fails alone, naming the import and no job having run; the
source hosts keep neither a recovery checkpoint nor a shadow copy; a VM on an SMB3 share, whose set the proxy reads
where the file server exposes it (no import), is still stored. And where px1 cannot delete a shadow copy
(`diskshadow_no_op: [delete]`): the release in the data mover's task fails, the group's rescue tries again and
fails too; every VM is still stored, the proxy's other groups still run, and the run fails at the end naming the
set left on px1 and how to release it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab, ansible_adhoc
from test_site_lab import playbook, proxy_lab

# isort: split
from lab.windows.hoststate import HostState

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
COMMON = {"backup_repository": "C:\\Backup\\import", "backup_passphrase": "Lab-Vault-Passphrase-import"}


@contextmanager
def no_op_lab(work: Path, command: str) -> Iterator[RunningLab]:
    """healthy.yml with px1 deployed and px1's DiskShadow doing nothing for `command`."""
    estate = work / "estate.json"
    px1 = {"name": "px1", "diskshadow_no_op": [command]}
    estate.write_text(json.dumps({"extends": str(ESTATES / "healthy.yml"), "hosts": [px1]}))
    with proxy_lab(estate, work) as lab:
        yield lab


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with no_op_lab(tmp_path_factory.mktemp("backup-proxy-import"), "import") as lab:
        yield lab


@pytest.fixture(scope="module")
def undeletable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with no_op_lab(tmp_path_factory.mktemp("backup-proxy-release"), "delete") as lab:
        yield lab


def stored_vms(lab: RunningLab, work: Path) -> set[str]:
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    result = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))["px1"]
    return {vm for vm, points in result.get("vms", {}).items() if points}


def test_an_import_the_proxy_cannot_do_fails_the_groups_vms_and_leaves_nothing_on_the_hosts(
    deployed: RunningLab, tmp_path: Path
) -> None:
    rc, output = playbook(deployed, tmp_path, BACKUP, COMMON)
    assert rc != 0, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    for vm in ("hv1/vm1", "hv2/vm2"):
        assert f"{vm}: Import the shadow copy on the proxy, store the group's VMs" in last_failure, last_failure
    # DiskShadow stops at its first failing command: the expose of a copy the import did not bring
    assert "on the proxy failed, so no job ran: shadow_copy_import.ps1: diskshadow exited with 1" in last_failure
    assert "px1: 1 VM(s) stored, 2 failed" in last_failure, last_failure
    assert stored_vms(deployed, tmp_path) == {"vm3"}  # the share's set needs no import
    for host in ("hv1", "hv2"):
        state = HostState(deployed.state_dir / "hosts" / host / "state").read()
        held = state.get("change_tracking", {}).get("vms", {})
        assert all(not record["checkpoint"] for record in held.values()), (host, held)
        assert not state.get("shadow_copies"), (host, state.get("shadow_copies"))
    proxy = HostState(deployed.state_dir / "hosts" / "px1" / "state").read()
    assert not proxy.get("shadow_copies"), proxy.get("shadow_copies")  # nothing imported, nothing left exposed


def test_a_release_the_proxy_cannot_do_keeps_the_vms_stored_and_fails_the_run_naming_the_set(
    undeletable: RunningLab, tmp_path: Path
) -> None:
    rc, output = playbook(undeletable, tmp_path, BACKUP, COMMON)
    assert rc != 0, output[-3000:]
    assert stored_vms(undeletable, tmp_path) == {"vm1", "vm2", "vm3"}  # the groups after the first ran too
    last_failure = output[output.rindex("fatal: ") :]
    assert "px1: 3 VM(s) stored, 0 failed" in last_failure, last_failure
    assert "Releases that failed, so what they held is still on the host named: px1 (set {" in last_failure
    assert last_failure.count("px1 (set {") == 2, last_failure  # one per CSV group: the share's set is not imported
    assert "backup.hyperv.shadow_copy state=absent snapshot_set_id=<set> on that host" in last_failure
    assert "...ignoring" in output  # the rescue's release failed visibly, and the run went on
    proxy = HostState(undeletable.state_dir / "hosts" / "px1" / "state").read()
    assert len(proxy.get("shadow_copies") or {}) == 2, proxy.get("shadow_copies")  # what the message names
    for host in ("hv1", "hv2"):  # the source hosts released their side
        held = HostState(undeletable.state_dir / "hosts" / host / "state").read().get("change_tracking", {})
        assert all(not record["checkpoint"] for record in held.get("vms", {}).values()), (host, held)
