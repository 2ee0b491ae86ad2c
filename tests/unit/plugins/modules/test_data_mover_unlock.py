"""The data_mover module's ``operation: unlock`` (issue 17): stale locks go, a live lock fails the task naming
its holder unless ``force``, check mode removes nothing. The command line's face: test_unlock.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RepositoryAccess
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock
from ansible_collections.backup.hyperv.plugins.modules import data_mover


def run_module(capsys, check_mode: bool = False, **args) -> dict:
    """Run the module's main() like AnsiballZ does; return its JSON reply."""
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
        data_mover.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    engine.init_repository(RepositoryAccess(str(tmp_path / "repo")))
    return tmp_path / "repo"


@pytest.fixture
def stale(repo: Path) -> Path:
    """The exclusive lock of a prune on proxy2 that stopped refreshing it 11 minutes ago."""
    record = {"kind": "exclusive", "operation": "prune", "host": "proxy2", "pid": 4242, "stale_after": 600}
    path = repo / "locks" / "exclusive"
    path.write_text(json.dumps(dict(record, refreshed=time.time() - 660)))
    return path


def test_unlock_removes_a_stale_lock_and_reports_whose_it_was(capsys, repo, stale):
    reply = run_module(capsys, operation="unlock", repository=str(repo))
    assert reply["changed"] is True and "failed" not in reply
    (removed,) = reply["removed"]
    assert (removed["host"], removed["pid"], removed["operation"]) == ("proxy2", 4242, "prune")
    assert not stale.exists()
    assert run_module(capsys, operation="unlock", repository=str(repo))["changed"] is False


def test_unlock_in_check_mode_reports_and_keeps_the_lock(capsys, repo, stale):
    reply = run_module(capsys, check_mode=True, operation="unlock", repository=str(repo))
    assert reply["changed"] is True and [r["lock"] for r in reply["removed"]] == ["exclusive"]
    assert stale.exists()


def test_unlock_fails_on_a_live_lock_naming_its_holder_unless_forced(capsys, repo):
    holder = RepositoryLock(str(repo / "locks"), exclusive=True, operation="backup", host="proxy2")
    holder.acquire()
    try:
        refused = run_module(capsys, operation="unlock", repository=str(repo))
        assert refused["failed"] is True and "exception" not in refused
        assert (
            f"locked by pid {os.getpid()} on host proxy2" in refused["msg"]
            and "(backup, exclusive lock)" in refused["msg"]
        )
        assert (repo / "locks" / "exclusive").exists()
        forced = run_module(capsys, operation="unlock", repository=str(repo), force=True)
        assert forced["changed"] is True and forced["removed"][0]["reason"] == "removed with force"
        assert not (repo / "locks" / "exclusive").exists()
    finally:
        holder.release()
