"""Repository files are 0600 and folders 0700 on POSIX whatever the umask (issue 17): the key file, config,
packs, index files, restore points and lock files; a folder the admin made keeps its own mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock

MiB = 1 << 20


@pytest.fixture(params=[0o000, 0o022])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def modes(root: Path) -> dict:
    """{relative path: permission bits} of every file and folder under ``root`` (``root`` itself excluded)."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


def test_every_repository_file_is_0600_and_every_folder_0700_whatever_the_umask(tmp_path, fake_disks, umask):
    repo, disk = tmp_path / "backups" / "repo", tmp_path / "disk0.raw"
    make_image(str(disk), 4 * MiB, seed=1)
    fake_disks.backup(str(repo), "vm1", [str(disk)], passphrase="secret")
    fake_disks.backup(str(repo), "vm1", [str(disk)], passphrase="secret")
    with RepositoryLock(str(repo / "locks"), exclusive=True, timeout=0, operation="backup"):
        found = modes(repo)
        files = {path: mode for path, mode in found.items() if (repo / path).is_file()}
    folders = {path: mode for path, mode in found.items() if path not in files}
    assert {"config", "keys/master.key"} <= set(files) and any(p.startswith("locks/") for p in files)
    assert any(p.endswith(".pack") for p in files) and any(p.endswith(".idx") for p in files)
    assert set(files.values()) == {0o600} and set(folders.values()) == {0o700}
    assert stat.S_IMODE(repo.stat().st_mode) == 0o700  # created by the backup
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700


def test_a_folder_the_admin_made_keeps_its_mode(tmp_path, fake_disks, umask):
    repo, disk = tmp_path / "repo", tmp_path / "disk0.raw"
    repo.mkdir()
    repo.chmod(0o750)
    make_image(str(disk), 2 * MiB, seed=1)
    fake_disks.backup(str(repo), "vm1", [str(disk)])
    assert stat.S_IMODE(repo.stat().st_mode) == 0o750
    assert stat.S_IMODE((repo / "packs").stat().st_mode) == 0o700
    runs.prune(str(repo), 1)
