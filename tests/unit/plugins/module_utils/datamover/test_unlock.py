"""``hyperv-datamover unlock``: stale locks go, a live lock refuses it naming its holder, force removes it too,
``--dry-run`` removes nothing (issue 17). The module's face: tests/unit/plugins/modules/test_data_mover_unlock.py."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
import runs

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock


def run(*argv: str) -> tuple:
    """cli.main() with captured streams: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), environ={}, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    runs.init(str(tmp_path / "repo"))
    return tmp_path / "repo"


def stale_lock(repo: Path) -> Path:
    """The exclusive lock of a backup on proxy2 that stopped refreshing it 11 minutes ago."""
    record = {"kind": "exclusive", "operation": "backup", "host": "proxy2", "pid": 4242, "stale_after": 600}
    path = repo / "locks" / "exclusive"
    path.write_text(json.dumps(dict(record, refreshed=time.time() - 660)))
    return path


def test_unlock_removes_a_stale_lock_and_says_whose_it_was(repo):
    path = stale_lock(repo)
    status, out, err = run("unlock", str(repo), "--json")
    assert (status, err) == (0, "")
    (removed,) = json.loads(out)["removed"]
    assert (removed["lock"], removed["host"], removed["pid"], removed["operation"]) == (
        "exclusive",
        "proxy2",
        4242,
        "backup",
    )
    assert removed["age"] >= 660 and removed["reason"].startswith("not refreshed for")
    assert json.loads(out)["changed"] is True and not path.exists()
    assert json.loads(run("unlock", str(repo), "--json")[1]) == {"changed": False, "removed": []}


def test_unlock_dry_run_says_what_it_would_remove_and_removes_nothing(repo):
    path = stale_lock(repo)
    status, out, _err = run("unlock", str(repo), "--dry-run", "--json")
    assert status == 0 and [r["host"] for r in json.loads(out)["removed"]] == ["proxy2"]
    assert path.exists()


def test_unlock_refuses_a_live_lock_naming_its_holder_and_force_removes_it(repo):
    holder = RepositoryLock(str(repo / "locks"), exclusive=True, operation="verify", host="proxy2")
    holder.acquire()
    try:
        status, out, err = run("unlock", str(repo))
        assert (status, out) == (1, "") and "Traceback" not in err
        assert f"unlock refused: the repository is locked by pid {os.getpid()} on host proxy2" in err
        assert "(verify, exclusive lock)" in err and "force" in err
        assert (repo / "locks" / "exclusive").exists()
        status, out, _err = run("unlock", str(repo), "--force", "--dry-run", "--json")
        assert status == 0 and (repo / "locks" / "exclusive").exists()
        status, out, _err = run("unlock", str(repo), "--force", "--json")
        (removed,) = json.loads(out)["removed"]
        assert (status, removed["operation"], removed["reason"]) == (0, "verify", "removed with force")
        assert not (repo / "locks" / "exclusive").exists()
    finally:
        holder.release()


def test_unlock_of_a_folder_that_is_no_repository_says_so(tmp_path):
    status, _out, err = run("unlock", str(tmp_path))
    assert status == 1 and f"no repository at {tmp_path}" in err
