"""`backup.hyperv.repository_folder` on lab proxies through Ansible, and its handlers in-process.

px1 is reached over psrp, px2 over winrm (fresh-proxy.yml, domain CONTOSO). The module creates the folder with a
protected DACL (check mode first: nothing changes), a second run changes nothing, an unknown principal fails
naming it with nothing changed, and a folder that inherits its parent's entries loses them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab, adhoc_round_trips, ansible_environment, estate_lab

# isort: split
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows.folder_security import INHERITED_SDDL

PROXIES = ("px1", "px2")
MODULE = "backup.hyperv.repository_folder"
READ, APPLY = "collection:repository_folder_read", "collection:repository_folder_apply"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    with estate_lab(ESTATES / "fresh-proxy.yml", tmp_path_factory.mktemp("repository-folder-lab")) as running:
        for host in PROXIES:
            running.host_file(host, "D").mkdir(exist_ok=True)  # the hosts' data drive D:
        yield running


def snapshot(lab, host: str) -> dict[str, str]:
    """Every file and folder of the emulated host (its drives and its state), files with their SHA-256."""
    root = lab.state_dir / "hosts" / host
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in root.rglob("*")
    }


def state_sddl(lab, host: str, path: str) -> str | None:
    state = json.loads((lab.state_dir / "hosts" / host / "state" / "windows.json").read_text())
    return state.get("folder_security", {}).get(path.upper())


def run(lab, work_dir: Path, args: dict, *options: str) -> dict[str, dict]:
    """The module on both proxies; each result, with the round trips it made as `_round_trips`."""
    return adhoc_round_trips(lab, work_dir, PROXIES, "offhost_proxies", "-m", MODULE, "-a", json.dumps(args), *options)


def test_the_folder_is_created_protected_and_stays_put(lab, tmp_path):
    args = {"path": "D:\\Backup\\repo", "extra_principals": ["CONTOSO\\PX2$", "CONTOSO\\Domain Admins"]}
    before = {host: snapshot(lab, host) for host in PROXIES}
    checked = run(lab, tmp_path, args, "--check", "--diff", "-vvv")  # -vvv: the tree keeps the diff
    for host in PROXIES:
        assert checked[host]["changed"] is True, checked[host]
        assert [s["action"] for s in checked[host]["steps"]] == ["create_folder", "set_security"]
        assert checked[host]["diff"]["before"]["folder"] == {"path": "D:\\Backup\\repo", "exists": False, "sddl": None}
        assert checked[host]["_round_trips"] == [READ]
        assert snapshot(lab, host) == before[host]  # check mode changed nothing
    applied = run(lab, tmp_path, args)
    px2 = applied["px1"]["steps"][1]["principals"][2]
    for host in PROXIES:
        assert applied[host]["changed"] is True and applied[host]["_round_trips"] == [READ, APPLY], applied[host]
        assert lab.host_file(host, "D", "Backup", "repo").is_dir()
        written = state_sddl(lab, host, "D:\\Backup\\repo")
        assert written == f"O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;{px2})(A;OICI;FA;;;DA)"
        assert applied[host]["folder"]["sddl"] == written == checked[host]["diff"]["after"]["folder"]["sddl"]
    again = run(lab, tmp_path, args)
    for host in PROXIES:
        assert (again[host]["changed"], again[host]["steps"]) == (False, []), again[host]
        assert again[host]["_round_trips"] == [READ]


def test_an_unknown_principal_fails_naming_it_and_changes_nothing(lab, tmp_path):
    before = {host: snapshot(lab, host) for host in PROXIES}
    args = {"path": "D:\\Backup\\other", "extra_principals": ["CONTOSO\\PX1$", "CONTOSO\\NOPE$"]}
    results = run(lab, tmp_path, args)
    for host in PROXIES:
        assert results[host]["changed"] is False and "folder" not in results[host]
        assert (
            "cannot map 'CONTOSO\\NOPE$' to an account" in results[host]["msg"] and "PX1" not in results[host]["msg"]
        ), results[host]
        assert results[host]["_round_trips"] == [READ]
        assert snapshot(lab, host) == before[host]


def test_a_folder_that_inherits_its_parents_entries_loses_them(lab, tmp_path):
    for host in PROXIES:
        lab.host_file(host, "D", "Inherits").mkdir()
    results = run(lab, tmp_path, {"path": "D:\\Inherits"}, "--diff", "-vvv")
    for host in PROXIES:
        assert [s["action"] for s in results[host]["steps"]] == ["set_security"], results[host]
        assert results[host]["diff"]["before"]["folder"]["sddl"] == INHERITED_SDDL
        assert state_sddl(lab, host, "D:\\Inherits") == "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"


def test_a_missing_drive_and_a_file_are_refused_before_any_change(lab, tmp_path):
    lab.host_file("px1", "D", "repo.txt").write_text("a file")
    lab.host_file("px2", "D", "repo.txt").write_text("a file")
    for path, message in (("E:\\Backup\\repo", "the host has no drive E:"), ("D:\\repo.txt", "is a file on the host")):
        results = run(lab, tmp_path, {"path": path})
        for host in PROXIES:
            assert message in results[host]["msg"] and results[host]["_round_trips"] == [READ], results[host]


ROLE_PLAY = """
- hosts: px1
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: backup.hyperv.offhost_proxy
        tasks_from: repository
      vars:
        offhost_proxy_repository_path: D:\\RoleRepo
        offhost_proxy_repository_principals: [CONTOSO\\PX2$]
"""


def test_the_role_task_protects_the_folder_it_is_given(lab, tmp_path):
    (tmp_path / "play.yml").write_text(ROLE_PLAY)
    playbook = str(Path(sys.executable).with_name("ansible-playbook"))
    command = [playbook, "-i", str(lab.inventory), str(tmp_path / "play.yml")]
    done = subprocess.run(command, capture_output=True, text=True, env=ansible_environment(tmp_path), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    written = state_sddl(lab, "px1", "D:\\RoleRepo")
    assert written is not None and written.startswith("O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;S-1-5-21-")


@pytest.fixture
def provisioned(tmp_path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "fresh-proxy.yml"), tmp_path)


def test_the_apply_refuses_what_windows_refuses_and_keeps_the_steps_before(provisioned):
    with pytest.raises(ScriptFailure, match=r"step 1 \(create_folder E:\\repo\): Could not find a part of the path"):
        provisioned.call("px1", "repository_folder_apply", {"Steps": [{"action": "create_folder", "path": "E:\\repo"}]})
    steps = [
        {"action": "create_folder", "path": "C:\\Backup\\repo"},
        {
            "action": "set_security",
            "path": "C:\\Backup\\repo",
            "owner": "S-1-5-32-544",
            "principals": ["CONTOSO\\PX1$"],
        },
    ]
    with pytest.raises(ScriptFailure, match=r"step 2 \(set_security C:\\Backup\\repo\): Value was invalid"):
        provisioned.call("px1", "repository_folder_apply", {"Steps": steps})
    read = provisioned.call("px1", "repository_folder_read", {"Path": "C:\\Backup\\repo", "Principals": ["SYSTEM"]})
    assert (read["exists"], read["sddl"], read["principals"]) == (
        True,
        INHERITED_SDDL,
        [{"name": "SYSTEM", "sid": "S-1-5-18"}],
    )
