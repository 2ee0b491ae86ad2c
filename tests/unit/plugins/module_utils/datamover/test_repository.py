"""Repository layout and format version checks."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import runs
from datamover_fakes import make_image, read_tree

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    FormatVersionError,
    RepositoryError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants, layout
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, find_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import FORMAT_VERSION, PACK_HEADER
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

PASSPHRASE = "two proxies, one repository"


@pytest.fixture
def repo(tmp_path, fake_disks):
    disk = tmp_path / "d.raw"
    make_image(str(disk), 2 << 20, seed=2)
    path = tmp_path / "repo"
    fake_disks.backup(str(path), "vm", [str(disk)])
    return path, disk


def test_newer_format_version_is_refused_and_nothing_changes(tmp_path, repo):
    path, disk = repo
    config = json.loads((path / "config").read_text())
    config["version"] = FORMAT_VERSION + 1
    (path / "config").write_text(json.dumps(config))
    before = read_tree(str(path))
    calls = [
        lambda: runs.backup(str(path), "vm", [str(disk)]),
        lambda: runs.restore(str(path), "vm", str(tmp_path / "out")),
        lambda: runs.verify(str(path)),
        lambda: runs.points(str(path)),
        lambda: runs.prune(str(path), 1),
    ]
    for call in calls:
        with pytest.raises(FormatVersionError, match=f"format version {FORMAT_VERSION + 1}"):
            call()
    assert read_tree(str(path)) == before


def test_pack_of_newer_version_is_refused_by_verify(repo):
    path, _ignored = repo
    pack = next((path / "packs").rglob("*.pack"))
    data = bytearray(pack.read_bytes())
    magic, _ignored, flags, reserved = PACK_HEADER.unpack_from(data)
    PACK_HEADER.pack_into(data, 0, magic, FORMAT_VERSION + 1, flags, reserved)
    pack.write_bytes(bytes(data))
    result = runs.verify(str(path))
    assert any("newer" in p["reason"] for p in result["problems"])


def test_not_a_repository_and_double_init_are_refused(tmp_path):
    with pytest.raises(RepositoryError, match="no repository"):
        runs.points(str(tmp_path))
    runs.init(str(tmp_path / "r"))
    with pytest.raises(RepositoryError, match="already exists"):
        runs.init(str(tmp_path / "r"))


def test_backup_without_init_refuses_missing_repository(tmp_path, repo):
    _ignored, disk = repo
    with pytest.raises(Exception, match="init is false"), runs.open_session(tmp_path / "none", init=False) as session:
        session.backup(BackupEntry("vm", (str(disk),)))


class _History:
    """Just enough of a repository for the catalog: point ids in time order and a read counter."""

    def __init__(self, vms: list) -> None:
        self.path = "/repo"
        self.records = {f"2026{number:010d}": {"id": f"2026{number:010d}", "vm": vm} for number, vm in enumerate(vms)}
        self.reads = 0

    def point_ids(self) -> list:
        return sorted(self.records)

    def read_point(self, point_id: str) -> dict:
        self.reads += 1
        return dict(self.records[point_id])


def test_the_latest_point_is_found_without_reading_the_whole_history():
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import find_point, latest_point

    history = _History(["web01", "db01"] * 500 + ["web01"])
    assert latest_point(history, "db01")["id"] == "20260000000999"
    assert history.reads == 2  # newest first: web01's record, then db01's
    assert find_point(history, "web01", "latest")["id"] == "20260000001000"
    assert latest_point(history, "nope") is None and history.reads == 2 + 1 + 1001


def test_a_reader_keeps_few_packs_open_and_still_reads_every_chunk(tmp_path, fake_disks, monkeypatch):
    """Partial chunks read baselines from anywhere in a large repository: its open packs stay bounded."""
    disk = tmp_path / "d.raw"
    content = make_image(str(disk), 8 << 20, seed=3)
    with fake_disks.open_session(tmp_path / "repo", limits=StoreLimits(pack_target=1 << 20)) as session:
        session.backup(BackupEntry("vm", (str(disk),)))
    monkeypatch.setattr(constants, "MAX_OPEN_PACKS", 2)
    opened = Repository(str(tmp_path / "repo"))
    opened.load_index()
    assert len(opened.index.pack_ids) > 2
    chunks = chunk_lists(opened, find_point(opened, "vm", "latest"))[0]
    for number, chunk_id in chunks.data_chunks():
        assert opened.load_chunk(chunk_id, Codec(0)) == content[number << 20 : (number + 1) << 20]
    assert len(opened._fds) == 2


def test_two_first_backups_at_once_share_one_key_and_both_restore(tmp_path, fake_disks, monkeypatch):
    """Two proxies' first backups into one new encrypted repository: each made a key and a config, and the data of
    the one whose key the other replaced could not be read (both had succeeded). Creation now holds the
    repository's lock: the second waits, finds the repository made and backs up into it."""
    real_key_file = layout.new_key_file
    started = threading.Barrier(2)

    def slow_key_file(*args, **kwargs):  # both creations overlap without the lock
        time.sleep(0.3)
        return real_key_file(*args, **kwargs)

    monkeypatch.setattr(layout, "new_key_file", slow_key_file)
    path, disks = str(tmp_path / "repo"), {}
    for vm in ("vm-a", "vm-b"):
        disks[vm] = tmp_path / f"{vm}.raw"
        make_image(str(disks[vm]), 2 << 20, seed=len(disks))

    def first_backup(vm: str) -> dict:
        started.wait()
        return fake_disks.backup(path, vm, [str(disks[vm])], passphrase=PASSPHRASE, lock_timeout=30)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(first_backup, ["vm-a", "vm-b"]))
    assert all(result["restore_point"] for result in results)
    assert sorted(runs.points(path, passphrase=PASSPHRASE)["vms"]) == ["vm-a", "vm-b"]
    for vm, disk in disks.items():
        runs.restore(path, vm, str(tmp_path / vm), format="raw", passphrase=PASSPHRASE)
        assert (tmp_path / vm / disk.name).read_bytes() == disk.read_bytes()


def test_a_folder_whose_config_was_lost_is_not_made_a_new_repository(tmp_path, fake_disks):
    """Without its config, a repository's folder still holds data sealed with its key: a backup (or init) there
    would write a new key over it and lose every restore point. It is refused, nothing written; with the config
    put back, the restore point reads."""
    disk = tmp_path / "d.raw"
    make_image(str(disk), 2 << 20, seed=3)
    path = tmp_path / "repo"
    fake_disks.backup(str(path), "vm", [str(disk)], passphrase=PASSPHRASE)
    config = (path / "config").read_bytes()
    (path / "config").unlink()
    before = read_tree(str(path))
    for create in (
        lambda: fake_disks.backup(str(path), "vm", [str(disk)], passphrase=PASSPHRASE),
        lambda: runs.init(str(path), passphrase=PASSPHRASE),
    ):
        with pytest.raises(RepositoryError, match="but no config file: its config was lost"):
            create()
        assert read_tree(str(path)) == before
    (path / "config").write_bytes(config)
    runs.restore(str(path), "vm", str(tmp_path / "out"), format="raw", passphrase=PASSPHRASE)
    assert (tmp_path / "out" / "d.raw").read_bytes() == disk.read_bytes()
