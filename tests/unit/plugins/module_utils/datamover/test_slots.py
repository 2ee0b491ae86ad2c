"""A backup job's ``slots``: several VMs stored at once by one session (one open, one unlock, one index).

What the VMs running at once share (the worker pool, the index, the repository) must stay right: every VM
verifies and restores byte for byte, and a VM that fails while others run fails alone, without taking
chunks the others rely on.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
import runs
from datamover_fakes import FakeDisk, make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.jobs import backup_each
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry, Chunking
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits

MiB = 1 << 20
SMALL_PACKS = StoreLimits(pack_target=2 * MiB, packs_in_flush=1)  # many packs, flushed while others run


class Overlap:
    """How many backups have their disk open at the same moment (the most seen)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)

    def leave(self) -> None:
        with self.lock:
            self.open -= 1


class SlowDisk(FakeDisk):
    """Reads slowly enough that the VMs of a job overlap; a ``late-fail`` disk fails at its last chunk,
    after the VMs running beside it have read (and deduplicated) the same content."""

    overlap = Overlap()

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.overlap.enter()
        if not os.path.basename(path).startswith("late-fail"):
            time.sleep(0.3)  # opened on the VM's own thread: the failing VM stores the shared content first

    def close(self) -> None:
        self.overlap.leave()
        super().close()

    def read(self, offset: int, length: int) -> bytes:
        name = os.path.basename(self.path)
        if name.startswith("late-fail") and offset + length >= self.virtual_size:
            time.sleep(1.0)
            raise OSError(5, "Input/output error")
        time.sleep(0.01)
        return super().read(offset, length)


def open_slow(path: str) -> FakeDisk:
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return SlowDisk(path)


@pytest.fixture
def estate(tmp_path):
    """Seven VMs: a clone of a template that fails late and three more clones running beside it (shared
    chunks), one missing, two of their own."""
    folder = tmp_path / "src"
    folder.mkdir()
    template = folder / "template.raw"
    make_image(str(template), 12 * MiB, seed=11)
    contents = {}
    for name in ("late-fail", "clone1", "clone2", "clone3"):
        path = folder / f"{name}.raw"
        path.write_bytes(template.read_bytes())
        if name != "late-fail":
            with open(path, "r+b") as handle:  # each clone differs in one chunk
                handle.seek(6 * MiB)
                handle.write(name.encode() * 1000)
        contents[name] = path.read_bytes()
    for seed, name in ((21, "own1"), (22, "own2")):
        contents[name] = make_image(str(folder / f"{name}.raw"), 10 * MiB, seed=seed)
    entries = [BackupEntry(name, (str(folder / f"{name}.raw"),)) for name in contents]
    entries.insert(4, BackupEntry("missing", (str(folder / "missing.raw"),)))
    return entries, contents


def test_three_slots_back_up_several_vms_at_once_and_every_one_restores_exactly(tmp_path, estate):
    entries, contents = estate
    repo = tmp_path / "repo"
    SlowDisk.overlap = Overlap()
    with runs.open_session(repo, disk_opener=open_slow, limits=SMALL_PACKS, workers=2) as session:
        reply = backup_each(session, entries, Chunking(block_size=MiB), None, slots=3)
    assert [r["vm"] for r in reply["results"]] == [entry.vm for entry in entries]  # job order
    assert reply["failed_vms"] == ["late-fail", "missing"]
    assert SlowDisk.overlap.most == 3  # three VMs were backed up at once, never more
    failed = {r["vm"]: r["msg"] for r in reply["results"] if r["failed"]}
    assert "missing.raw" in failed["missing"] and "Input/output error" in failed["late-fail"]
    assert runs.verify(repo)["ok"]
    stored = set(runs.points(repo)["vms"])
    assert stored == set(contents) - {"late-fail"}
    for vm in stored:
        runs.restore(repo, vm, str(tmp_path / "out" / vm), format="raw")
        assert (tmp_path / "out" / vm / f"{vm}.raw").read_bytes() == contents[vm], vm


def test_slots_travel_from_the_module_options_to_the_job(tmp_path, estate):
    entries, contents = estate
    jobs = [{"vm": e.vm, "sources": list(e.sources)} for e in entries if e.vm not in ("missing", "late-fail")]
    SlowDisk.overlap = Overlap()
    reply = runs.run("backup", tmp_path / "repo", jobs=jobs, slots=2, workers=2, disk_opener=open_slow)
    assert reply["failed_vms"] == [] and SlowDisk.overlap.most == 2
    assert runs.verify(tmp_path / "repo")["ok"]
    for job in jobs:
        runs.restore(tmp_path / "repo", job["vm"], str(tmp_path / "out" / job["vm"]), format="raw")
        assert (tmp_path / "out" / job["vm"] / f"{job['vm']}.raw").read_bytes() == contents[job["vm"]]
