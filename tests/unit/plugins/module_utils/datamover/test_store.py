"""Crash safety and write failures: kill -9 mid-backup, then verify, rerun (reusing chunks) and restore;
a full disk (ENOSPC) leaves the repository exactly as it was."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import runs
from datamover_fakes import make_image, read_tree

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError, RepositoryError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry, Chunking
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import PackWriter

MiB = 1 << 20
HERE = Path(__file__).resolve().parent
COLLECTIONS = HERE.parents[4] / "build" / "collections"

CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{collections!r}, {here!r}]
    from datamover_fakes import open_fake_disk
    import runs
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry, Chunking
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits

    def progress(done, total):
        if done >= total * float(sys.argv[3]):
            print("PARKED", flush=True)
            sys.stdin.readline()  # park here, mid-backup, until killed

    # many small packs, and no blob queued ahead of its append, so some packs are durable when the kill comes
    limits = StoreLimits(pack_target=2 << 20, queued_bytes=0)
    with runs.open_session(sys.argv[1], workers=2, disk_opener=open_fake_disk, limits=limits) as session:
        session.backup(BackupEntry("vm1", (sys.argv[2],)), Chunking(compression="none"), progress)
    """
)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 1.0])
def test_kill_9_mid_backup_then_verify_rerun_and_restore(tmp_path, fake_disks, fraction):
    disk = tmp_path / "disk0.raw"
    content = make_image(str(disk), 24 * MiB, seed=9)
    repo = tmp_path / "repo"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(collections=str(COLLECTIONS), here=str(HERE)))
    child = subprocess.Popen(
        [sys.executable, str(script), str(repo), str(disk), str(fraction)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "PARKED"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert (repo / "locks" / "exclusive").exists()  # left behind by the killed writer
    assert not list((repo / "index").iterdir())  # killed before its commit
    assert runs.points(str(repo)) == {"vms": {}, "damaged": [], "ok": True}
    assert runs.verify(str(repo))["ok"]  # stale lock recovered, unindexed packs are fine
    rerun = fake_disks.backup(str(repo), "vm1", [str(disk)], compression="none")
    durable = rerun["stats"]["chunks_reused"]  # chunks of the killed run's durable packs
    assert durable > 0 or fraction < 0.5
    assert not list((repo / "tmp").iterdir())
    runs.restore(str(repo), "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "disk0.raw").read_bytes() == content
    assert runs.verify(str(repo))["ok"]


class _FullDisk:
    """A pack file sink that raises ENOSPC once ``budget`` bytes were appended."""

    def __init__(self, inner, budget: int) -> None:
        self.inner, self.budget = inner, budget

    def append(self, data) -> None:
        self.budget -= len(data)
        if self.budget < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.inner.append(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_enospc_leaves_repository_as_it_was(tmp_path, fake_disks, monkeypatch):
    disk = tmp_path / "disk0.raw"
    make_image(str(disk), 4 * MiB, seed=1)
    repo = tmp_path / "repo"
    fake_disks.backup(str(repo), "vm1", [str(disk)])
    before = read_tree(str(repo))
    make_image(str(disk), 12 * MiB, seed=2)
    original_init = PackWriter.__init__
    space = [5 * MiB]  # shared by every pack: the first packs fit, a later one does not

    def init_on_small_disk(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._file = _FullDisk(self._file, space[0])
        space[0] -= 2 * MiB

    monkeypatch.setattr(PackWriter, "__init__", init_on_small_disk)
    with pytest.raises(RepositoryError, match="no space left on device"), fake_disks.open_session(
        str(repo), limits=StoreLimits(pack_target=MiB)
    ) as session:
        session.backup(BackupEntry("vm1", (str(disk),)), Chunking(compression="none"))
    assert read_tree(str(repo)) == before
    monkeypatch.setattr(PackWriter, "__init__", original_init)
    assert fake_disks.backup(str(repo), "vm1", [str(disk)])["restore_point"]


def test_pack_writer_refuses_use_after_its_first_error(tmp_path):
    (tmp_path / "tmp").mkdir()
    writer = PackWriter(str(tmp_path / "tmp"), str(tmp_path / "p" / "00.pack"), bytes(16), None)
    writer._file = _FullDisk(writer._file, 10)
    with pytest.raises(RepositoryError, match="no space left"):
        writer.add(b"i" * 32, b"x" * 100, 100, 0)
    with pytest.raises(RepositoryError, match="refuses further use"):
        writer.add(b"j" * 32, b"y", 1, 0)
    with pytest.raises(RepositoryError, match="refuses further use"):
        writer.finish()
    assert not list(tmp_path.rglob("*.pack*"))


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A real 8 MiB tmpfs (we run as root), unmounted afterwards."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_real_full_filesystem_leaves_repository_as_it_was(tmp_path, tiny_filesystem, fake_disks):
    small, big = tmp_path / "small.raw", tmp_path / "big.raw"
    make_image(str(small), 3 * MiB, seed=1)
    make_image(str(big), 16 * MiB, seed=2)
    repo = tiny_filesystem / "repo"
    fake_disks.backup(str(repo), "vm", [str(small)], compression="none")
    before = read_tree(str(repo))
    with pytest.raises(RepositoryError, match="no space left on device"):
        fake_disks.backup(str(repo), "vm", [str(big)], compression="none")
    assert read_tree(str(repo)) == before and runs.verify(str(repo))["ok"]


@pytest.mark.parametrize("fmt", ["raw", "vhdx"])
def test_a_restore_onto_a_full_filesystem_fails_clearly_and_leaves_no_partial_file(
    tmp_path, tiny_filesystem, fake_disks, fmt
):
    big = tmp_path / "big.raw"
    make_image(str(big), 16 * MiB, seed=3)  # random: as large stored as restored, twice the 8 MiB filesystem
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm", [str(big)], compression="none")
    target = tiny_filesystem / "restore"
    with pytest.raises(DataMoverError, match=r"(?i)no space left on device"):
        runs.restore(repo, "vm", str(target), format=fmt)
    assert not list(target.iterdir())  # the .partial file is gone, no final name appeared
    assert runs.verify(repo)["ok"]
