"""The data_mover module run as Ansible runs it: main() with module args, and `ansible` against localhost.

Disks are real VHDX files made by qemu-img (qemu_images.py); restored disks are judged by `qemu-img compare`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from qemu_images import MIB, make_vhdx, pseudo_random, same_content, text_like, tree_state

from ansible_collections.backup.hyperv.plugins.modules import data_mover

REPO_ROOT = Path(__file__).resolve().parents[4]
DISK_SIZE = 64 * MIB


def run_module(capsys, check_mode: bool = False, **args) -> dict:
    """Run the module's main() like AnsiballZ does; return its JSON reply."""
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
        data_mover.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    writes = {0: text_like("boot", 3 * MIB), 8 * MIB: pseudo_random("data", 2 * MIB), 40 * MIB: text_like("log", MIB)}
    return make_vhdx(tmp_path / "vm1-disk0.vhdx", DISK_SIZE, writes)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "vm1.vmcx"
    path.write_bytes(text_like("config", 70_000))
    return path


@pytest.fixture
def backed_up(capsys, tmp_path, disk, config_file) -> dict:
    repo = tmp_path / "repo"
    reply = run_module(capsys, operation="backup", repository=str(repo), vm="vm1", source=[str(disk), str(config_file)])
    return dict(reply, repository=str(repo))


def test_backup_then_restore_gives_identical_disk_and_file(capsys, tmp_path, disk, config_file, backed_up):
    stats = backed_up["stats"]
    assert backed_up["changed"] is True and backed_up["restore_point"]
    assert stats["bytes_read"] >= 6 * MIB  # the written blocks; unallocated space is not read
    assert 0 < stats["bytes_stored"] < stats["bytes_read"]  # text compresses
    target = tmp_path / "restored"
    reply = run_module(
        capsys, operation="restore", repository=backed_up["repository"], vm="vm1", destination=str(target)
    )
    assert reply["changed"] is True and reply["restore_point"] == backed_up["restore_point"]
    assert same_content(disk, target / "vm1-disk0.vhdx")
    assert (target / "vm1.vmcx").read_bytes() == config_file.read_bytes()


def test_restore_as_raw_matches_the_vhdx(capsys, tmp_path, disk, backed_up):
    target = tmp_path / "raw"
    restore = {"repository": backed_up["repository"], "vm": "vm1", "destination": str(target)}
    run_module(capsys, operation="restore", format="raw", **restore)
    assert same_content(disk, target / "vm1-disk0.raw")


def test_second_backup_stores_almost_nothing(capsys, disk, backed_up):
    reply = run_module(capsys, operation="backup", repository=backed_up["repository"], vm="vm1", source=[str(disk)])
    assert reply["stats"]["bytes_stored"] < MIB // 4 and reply["stats"]["bytes_deduplicated"] >= 6 * MIB


def test_changed_ranges_read_only_the_changed_chunks(capsys, tmp_path, disk, backed_up):
    # the same disk (its virtual disk id) with a write: the ranges describe it against day 1's restore point
    day2 = tmp_path / "day2" / disk.name
    day2.parent.mkdir()
    shutil.copyfile(disk, day2)
    write = ["qemu-io", "-f", "vhdx", "-c", f"write -P 0x5a {9 * MIB + 4096} 8192", str(day2)]
    subprocess.run(write, check=True, capture_output=True)
    ranges = {str(day2): [{"offset": 9 * MIB + 4096, "length": 8192}]}
    backup = {"repository": backed_up["repository"], "vm": "vm1", "source": [str(day2)]}
    reply = run_module(capsys, operation="backup", changed_ranges=ranges, **backup)
    assert reply["stats"]["bytes_read"] == 8192  # the range's two sectors, the rest of its chunk from day 1
    target = tmp_path / "restored-day2"
    run_module(capsys, operation="restore", repository=backed_up["repository"], vm="vm1", destination=str(target))
    assert same_content(day2, target / disk.name) and not same_content(disk, target / disk.name)


def test_check_mode_backup_writes_nothing(capsys, tmp_path, disk, backed_up):
    before = tree_state(Path(backed_up["repository"]))
    backup = {"repository": backed_up["repository"], "vm": "vm2", "source": [str(disk)]}
    reply = run_module(capsys, check_mode=True, operation="backup", **backup)
    assert reply["changed"] is False and reply["restore_point"] is None
    assert reply["stats"]["bytes_read"] >= 6 * MIB
    assert tree_state(Path(backed_up["repository"])) == before
    fresh = tmp_path / "never-created"
    run_module(capsys, check_mode=True, operation="backup", repository=str(fresh), vm="vm1", source=[str(disk)])
    assert not fresh.exists()


def test_check_mode_restore_and_prune_write_nothing(capsys, tmp_path, disk, backed_up):
    run_module(capsys, operation="backup", repository=backed_up["repository"], vm="vm1", source=[str(disk)])
    before = tree_state(Path(backed_up["repository"]))
    target = tmp_path / "restore-target"
    restore = {"repository": backed_up["repository"], "vm": "vm1", "destination": str(target)}
    plan = run_module(capsys, check_mode=True, operation="restore", **restore)
    assert plan["changed"] is True and [o["name"] for o in plan["outputs"]] == ["vm1-disk0.vhdx"]
    assert plan["outputs"][0]["path"] == str(target / "vm1-disk0.vhdx") and not target.exists()
    pruned = run_module(capsys, check_mode=True, operation="prune", repository=backed_up["repository"], keep_last=1)
    assert pruned["changed"] is True and pruned["removed"][0]["id"] == backed_up["restore_point"]
    assert tree_state(Path(backed_up["repository"])) == before


def test_prune_then_list_and_verify(capsys, disk, backed_up):
    second = run_module(capsys, operation="backup", repository=backed_up["repository"], vm="vm1", source=[str(disk)])
    pruned = run_module(capsys, operation="prune", repository=backed_up["repository"], keep_last=1)
    assert pruned["changed"] is True
    listed = run_module(capsys, operation="list", repository=backed_up["repository"])
    assert listed["changed"] is False and [p["id"] for p in listed["vms"]["vm1"]] == [second["restore_point"]]
    verified = run_module(capsys, operation="verify", repository=backed_up["repository"])
    assert verified["changed"] is False and verified["ok"] is True and verified["checked_chunks"] > 0


def test_verify_fails_with_a_clear_msg_on_damage(capsys, backed_up):
    pack = max(Path(backed_up["repository"], "packs").rglob("*.pack"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    reply = run_module(capsys, operation="verify", repository=backed_up["repository"])
    assert reply["failed"] is True and "damage" in reply["msg"] and reply["damaged"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"operation": "backup", "vm": "vm1", "source": ["/nonexistent/disk.vhdx"]}, "/nonexistent/disk.vhdx"),
        ({"operation": "backup", "vm": "vm1", "block_size": "3M"}, "block_size"),
        ({"operation": "backup", "vm": "vm1", "changed_ranges": {"x.vhdx": [{"offset": -1, "length": 5}]}}, "offset"),
        ({"operation": "backup"}, "source, jobs"),
        ({"operation": "backup", "vm": None, "source": ["x.vhdx"]}, "required by 'source': vm"),
        (
            {"operation": "backup", "vm": "vm1", "source": None, "jobs": [{"vm": "vm2", "sources": ["x.vhdx"]}]},
            "mutually exclusive: jobs|vm",
        ),
        ({"operation": "restore", "jobs": [{"vm": "vm1"}]}, "lacks destination"),
        ({"operation": "restore", "vm": "nope", "destination": "target"}, "nope"),
        ({"operation": "prune", "keep_last": 0}, "keep_last"),
    ],
)
def test_bad_input_fails_with_a_clear_msg(capsys, tmp_path, disk, backed_up, args, expected):
    args = dict(args, repository=backed_up["repository"])
    if "destination" in args:
        args["destination"] = str(tmp_path / args["destination"])
    if args["operation"] == "backup" and "source" not in args and args.get("vm"):
        args["source"] = [str(disk)]
    args = {key: value for key, value in args.items() if value is not None}
    before = tree_state(Path(backed_up["repository"]))
    reply = run_module(capsys, **args)
    assert tree_state(Path(backed_up["repository"])) == before
    assert reply["failed"] is True and expected in reply["msg"]


@pytest.mark.parametrize(
    ("library", "args"),
    [
        ("zstandard", {"operation": "list"}),
        ("blake3", {"operation": "backup", "vm": "vm1"}),
        ("cryptography", {"operation": "backup", "vm": "vm1", "hash": "sha256", "passphrase": "long secret"}),
    ],
)
def test_missing_library_uses_missing_required_lib(capsys, monkeypatch, tmp_path, disk, library, args):
    monkeypatch.setitem(sys.modules, library, None)  # makes `import <library>` raise ImportError
    sources = {"source": [str(disk)]} if args["operation"] == "backup" else {}
    reply = run_module(capsys, repository=str(tmp_path / "repo"), **sources, **args)
    assert reply["failed"] is True and f"Failed to import the required Python library ({library})" in reply["msg"]
    assert not (tmp_path / "repo").exists()


def test_ansible_runs_the_module_with_no_log_passphrase(tmp_path, disk):
    """Backup, restore and verify through `ansible-playbook` on localhost, encrypted; the secret never shows."""
    secret = "correct horse battery staple"
    common = {"repository": str(tmp_path / "enc-repo"), "vm": "vm1", "passphrase": secret}
    steps = {
        "backup": dict(common, operation="backup", source=[str(disk)], encryption="aes-256-gcm"),
        "restore": dict(common, operation="restore", destination=str(tmp_path / "out")),
        "verify": dict(common, operation="verify"),
    }
    tasks = [{"backup.hyperv.data_mover": args, "register": name} for name, args in steps.items()]
    replies_file = tmp_path / "replies.json"
    tasks.append({"ansible.builtin.copy": {"dest": str(replies_file), "content": "{{ [backup, restore, verify] }}"}})
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    collections = str(REPO_ROOT / "build" / "collections")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    env["ANSIBLE_LOCALHOST_WARNING"] = "false"
    ansible_playbook, interpreter = Path(sys.executable).parent / "ansible-playbook", sys.executable
    command = [str(ansible_playbook), "-vvv", "-i", "localhost,", "-c", "local"]
    command += ["-e", f"ansible_python_interpreter={interpreter}", str(playbook)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    replies = json.loads(replies_file.read_text())
    assert [r["changed"] for r in replies] == [True, True, False] and replies[2]["ok"] is True
    assert same_content(disk, tmp_path / "out" / disk.name)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in result.stdout  # -vvv prints the module args, masked
    assert secret not in replies_file.read_text() + result.stdout + result.stderr
    assert b"aes-256-gcm" in (tmp_path / "enc-repo" / "config").read_bytes()


def test_a_backup_job_stores_each_vm_and_fails_naming_the_vm_that_failed(capsys, tmp_path, disk, config_file):
    second = make_vhdx(tmp_path / "vm2" / "vm2-disk0.vhdx", DISK_SIZE, {0: text_like("boot", 3 * MIB)})
    repo = str(tmp_path / "repo")
    jobs = [
        {"vm": "vm1", "sources": [str(disk), str(config_file)]},
        {"vm": "gone", "sources": [str(tmp_path / "gone.vhdx")]},
        {"vm": "vm2", "sources": [str(second)]},
    ]
    reply = run_module(capsys, operation="backup", repository=repo, jobs=jobs)
    assert reply["failed"] is True and reply["msg"] == "backup failed for VM gone"
    assert reply["failed_vms"] == ["gone"]
    outcome = {r["vm"]: r for r in reply["results"]}
    assert "gone.vhdx" in outcome["gone"]["msg"]
    assert outcome["vm1"]["restore_point"] and outcome["vm2"]["restore_point"]
    listed = run_module(capsys, operation="list", repository=repo)["vms"]
    assert sorted(listed) == ["vm1", "vm2"]
    restores = [{"vm": vm, "destination": str(tmp_path / "restored" / vm)} for vm in ("vm1", "vm2")]
    reply = run_module(capsys, operation="restore", repository=repo, jobs=restores)
    assert reply["changed"] is True and reply["failed_vms"] == []
    assert same_content(disk, tmp_path / "restored" / "vm1" / disk.name)
    assert same_content(second, tmp_path / "restored" / "vm2" / second.name)
    assert (tmp_path / "restored" / "vm1" / config_file.name).read_bytes() == config_file.read_bytes()


def test_a_check_mode_backup_job_writes_nothing(capsys, tmp_path, disk, backed_up):
    before = tree_state(Path(backed_up["repository"]))
    jobs = [{"vm": "vm1", "sources": [str(disk)]}, {"vm": "vm9", "sources": [str(disk)]}]
    reply = run_module(capsys, check_mode=True, operation="backup", repository=backed_up["repository"], jobs=jobs)
    assert reply["failed_vms"] == [] and len(reply["results"]) == 2
    assert tree_state(Path(backed_up["repository"])) == before
