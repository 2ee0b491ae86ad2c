"""Action results say when a connection was retried; every action that runs scripts reports it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from ansible_collections.backup.hyperv.plugins.plugin_utils import _connection_retry

ACTIONS = Path(__file__).resolve().parents[4] / "plugins" / "action"
DROPPED = requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))")


class DropsFirst:
    """The fake connection of make_action, whose first ``drops`` commands lose their connection."""

    def __init__(self, inner: Any, drops: int) -> None:
        self._inner = inner
        self._drops = drops
        self.resets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reset(self) -> None:
        self.resets += 1

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        if self._drops:
            self._drops -= 1
            raise DROPPED
        return self._inner.exec_command(cmd, in_data=in_data, sudoable=sudoable)


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(_connection_retry, "sleep", lambda seconds: None)


def test_a_retried_probe_succeeds_and_its_result_lists_the_retry_with_a_warning(make_action, recorded):
    action, calls = make_action("host_facts", replies=[recorded("host_facts_hv1_cluster_node.json")])
    action._connection = DropsFirst(action._connection, drops=1)

    result = action.run(task_vars={"inventory_hostname": "hv1"})

    assert not result.get("failed") and result["ansible_facts"]["hyperv_offhost"]
    assert len(calls) == 1 and action._connection.resets == 1
    (retry,) = result["connection_retries"]
    assert (retry["script"], retry["attempt"], retry["stage"]) == ("host_facts", 1, "run")
    assert "RemoteDisconnected" in retry["error"]
    assert any("failed 1 time(s) and was retried" in warning for warning in result["warnings"])


def test_a_run_without_retries_reports_none_even_after_a_run_that_had_some(make_action, recorded):
    reply = recorded("host_facts_hv1_cluster_node.json")
    action, _calls = make_action("host_facts", replies=[reply, reply])
    action._connection = DropsFirst(action._connection, drops=1)
    assert action.run(task_vars={})["connection_retries"]
    second = action.run(task_vars={})  # `until` runs the same action object again
    assert "connection_retries" not in second and "warnings" not in second


@pytest.mark.parametrize("path", sorted(ACTIONS.glob("*.py")), ids=lambda path: path.stem)
def test_every_action_that_runs_scripts_reports_its_retries(path):
    source = path.read_text(encoding="utf-8")
    if "run_script(" in source or "converge(" in source:
        assert "@reports_connection_retries\n    def run(" in source


def _action_class(stem: str) -> type:
    module = importlib.import_module(f"ansible_collections.backup.hyperv.plugins.action.{stem}")
    return module.ActionModule


def _module_return(stem: str) -> dict[str, Any]:
    module = importlib.import_module(f"ansible_collections.backup.hyperv.plugins.modules.{stem}")
    return yaml.safe_load(module.RETURN)


@pytest.mark.parametrize("stem", sorted(path.stem for path in ACTIONS.glob("*.py")))
def test_an_action_that_reports_retries_documents_them(stem):
    # functools.wraps leaves the decorated run reachable as __wrapped__: that is what "reports" means here.
    reports = hasattr(_action_class(stem).run, "__wrapped__")
    assert reports == ("connection_retries" in _module_return(stem)), stem


class DropsAt(DropsFirst):
    """Lets the first ``passes`` commands through, then loses the connection of every later one."""

    def __init__(self, inner: Any, passes: int) -> None:
        super().__init__(inner, drops=0)
        self._passes = passes

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        if self._passes:
            self._passes -= 1
            return self._inner.exec_command(cmd, in_data=in_data, sudoable=sudoable)
        raise DROPPED


GROUP = {"vms": ["web01"], "since": None}


def _group_batch(*values: Any) -> dict[str, Any]:
    return {"rc": 0, "stdout": {"replies": [{"value": value} for value in values]}}


def _checkpointed() -> dict[str, Any]:
    disk = {"Path": "C:\\ClusterStorage\\Volume1\\web01\\web01.vhdx", "Name": "web01.vhdx", "Size": 1048576}
    disk.update(Since=None, Ranges=None, Reason="no RCT id recorded")
    vm = {"Name": "web01", "Id": "9f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "Version": "9.0", "Failed": False}
    vm.update(Checkpoint="Microsoft:5D1B7E2A", Consistency="application", ConsistencyMessage=None, Message=None)
    return {"vms": [{**vm, "Disks": [disk]}]}


READ = {
    "vms": [{"Name": "web01", "Files": [{"Path": "C:\\ClusterStorage\\Volume1\\web01\\web01.vhdx", "Kind": "disk"}]}],
    "volumes": [{"DeviceID": "vol1", "MountPoints": ["C:\\ClusterStorage\\Volume1\\"]}],
    "shadows": [],
    "metadata_files": [],
    "mount_dirs": [],
}


def test_a_group_snapshot_whose_checkpoint_batch_lost_its_reply_fails_naming_the_checkpoints_it_may_have_left(
    make_action,
):
    # Failed, not unreachable: Ansible runs no rescue or always for an unreachable host and drops it from the play.
    action, calls = make_action("group_snapshot", replies=[], args=GROUP)
    action._connection = DropsAt(action._connection, passes=0)
    result = action.run(task_vars={})
    assert result["failed"] is True and "unreachable" not in result and "checkpoint" not in result
    assert "change_tracking_checkpoint+shadow_copy_read.ps1: the connection dropped" in result["msg"]
    assert "Recovery checkpoints of web01 may be left" in result["msg"]
    assert "Get-VMSnapshot -VMName <VM> -SnapshotType Recovery" in result["msg"] and calls == []


def test_a_group_snapshot_whose_create_batch_lost_its_reply_keeps_its_checkpoints_for_the_release(make_action):
    action, calls = make_action("group_snapshot", replies=[_group_batch(_checkpointed(), READ)], args=GROUP)
    action._connection = DropsAt(action._connection, passes=1)
    result = action.run(task_vars={})
    assert result["failed"] is True and "unreachable" not in result and len(calls) == 1
    assert result["checkpoint"]["vms"]["web01"]["checkpoint"] == "Microsoft:5D1B7E2A"  # what the release destroys
    assert "shadow_copy_create+change_tracking_reference.ps1" in result["msg"]
    assert "A shadow copy set of the group's volumes may be left" in result["msg"]


def test_a_data_mover_job_whose_polls_lose_the_connection_for_good_fails_instead_of_unreachable(make_action):
    started = {"rc": 0, "stdout": {"component": None, "found": [], "outdated": [], "job": "a" * 32}}
    started["stdout"].update(started=True, already=False, poll={"state": "running", "progress": ""})
    args = {"operation": "list", "repository": "C:\\Backup\\repo", "passphrase": "p"}
    action, _calls = make_action("data_mover", replies=[started], args=args)
    action._connection = DropsAt(action._connection, passes=1)
    result = action.run(task_vars={})
    assert result["failed"] is True and "unreachable" not in result
    assert "data_mover_poll.ps1: the connection to the host failed 4 times" in result["msg"]
    assert len(result["connection_retries"]) == 3
