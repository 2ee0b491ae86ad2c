"""File-level restore on real guest disks: GPT and MBR disks with NTFS volumes made by sgdisk, parted, mkntfs,
ntfscp and the ntfs-3g driver, converted to dynamic VHDX by qemu-img and backed up; then listed, searched and
extracted from the repository, every extracted file compared by SHA-256 with what was put in."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Dict

import pytest
import runs
from guest_disks import Volume, content, gpt_disk, mbr_disk, to_vhdx

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError, DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, find_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

MiB = 1 << 20
BIG = content("big", 10 * MiB + 12345)  # spans eleven 1 MiB chunks


def gpt_volume() -> Volume:
    volume = Volume("Data", 96 * MiB)
    volume.folders = ["\\Docs\\Reports\\2024", "\\Docs\\Empty"]
    volume.files = {
        "\\small.txt": b"resident: small enough to live in its MFT record\n",
        "\\big.bin": BIG,
        "\\zeros.bin": bytes(2 * MiB),
        "\\Docs\\Reports\\2024\\q1.txt": content("q1", 5000),
        "\\Docs\\Reports\\2024\\Q2.TXT": content("q2", 70000),
        "\\Docs\\notes.txt": content("notes", 123),
    }
    volume.sparse = {"\\sparse.bin": (8 * MiB, content("head", 100000))}
    volume.driver_files = {"\\we:ird*name?.txt": b"odd", "\\back\\slash.txt": b"slash"}
    return volume


def mbr_volumes() -> Dict[str, Volume]:
    first, second = Volume("First", 24 * MiB), Volume("Logical", 24 * MiB)
    first.files = {"\\one.txt": content("one", 3000)}
    second.folders = ["\\deep\\er"]
    second.files = {"\\deep\\er\\two.bin": content("two", 3 * MiB + 7)}
    return {"first": first, "second": second}


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A repository holding web01: gpt.vhdx (256 MiB, a reserved partition then NTFS) and mbr.vhdx (a primary
    and a logical NTFS volume)."""
    folder = tmp_path_factory.mktemp("guest")
    volume, mbr = gpt_volume(), mbr_volumes()
    offsets = gpt_disk(folder / "gpt.raw", 256 * MiB, [volume])
    mbr_disk(folder / "mbr.raw", 64 * MiB, list(mbr.values()))
    disks = [str(to_vhdx(folder / "gpt.raw")), str(to_vhdx(folder / "mbr.raw"))]
    repository = folder / "repo"
    runs.backup(repository, "web01", disks)
    return {"repo": repository, "volume": volume, "mbr": mbr, "offset": offsets[0], "raw": folder / "gpt.raw"}


def sha256_tree(root: Path) -> Dict[str, str]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            found["\\" + "\\".join(path.relative_to(root).parts)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_ls_lists_the_root_with_sizes_times_and_the_partitions(guest):
    result = runs.run("ls", guest["repo"], vm="web01", disk="gpt.vhdx")
    entries = {entry["name"]: entry for entry in result["entries"]}
    assert set(entries) == {
        "big.bin",
        "Docs",
        "small.txt",
        "sparse.bin",
        "zeros.bin",
        "we:ird*name?.txt",
        "back\\slash.txt",
    }
    assert entries["big.bin"]["size"] == len(BIG) and entries["Docs"]["kind"] == "directory"
    assert "sparse" in entries["sparse.bin"]["attributes"] and entries["small.txt"]["modified"].endswith("+00:00")
    assert result["partition"] == 2 and not result["changed"]
    assert [(p["number"], p["filesystem"]) for p in result["partitions"]] == [(1, None), (2, "ntfs")]
    assert result["partitions"][1]["offset"] == guest["offset"]


def test_listing_the_root_reads_a_few_chunks_of_a_256_mib_disk(guest):
    stats = runs.run("ls", guest["repo"], vm="web01", disk="gpt.vhdx")["stats"]
    assert stats["chunks_fetched"] <= 4 and stats["bytes_read"] < 2 * MiB


def test_every_file_extracted_has_the_hash_that_was_put_in(guest, tmp_path):
    result = runs.run("restore_file", guest["repo"], vm="web01", disk="gpt.vhdx", path="\\", destination=str(tmp_path))
    expected = {
        path.replace("we:ird*name?", "we_ird_name_").replace("back\\slash", "back_slash"): digest
        for path, digest in guest["volume"].hashes().items()
    }
    assert sha256_tree(tmp_path / "Data") == expected
    assert (tmp_path / "Data" / "Docs" / "Empty").is_dir()
    sparse = os.stat(tmp_path / "Data" / "sparse.bin")
    assert sparse.st_blocks * 512 < 2 * MiB  # the hole stays a hole
    assert result["bytes_written"] == sum(o["size"] for o in result["outputs"] if o["kind"] == "file")


def test_one_10_mb_file_reads_its_chunks_and_little_more(guest, tmp_path):
    result = runs.run(
        "restore_file", guest["repo"], vm="web01", disk="gpt.vhdx", path="/BIG.BIN", destination=str(tmp_path)
    )
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).digest() == hashlib.sha256(BIG).digest()
    assert 11 <= result["stats"]["chunks_fetched"] <= 11 + 4


def test_find_matches_names_in_any_case_and_paths_with_a_separator(guest):
    by_name = runs.run("find", guest["repo"], vm="web01", disk="gpt.vhdx", pattern="q*.txt")
    assert [m["path"] for m in by_name["matches"]] == ["\\Docs\\Reports\\2024\\q1.txt", "\\Docs\\Reports\\2024\\Q2.TXT"]
    by_path = runs.run("find", guest["repo"], vm="web01", disk="gpt.vhdx", path="\\Docs", pattern="reports\\*\\q2.*")
    assert [m["path"] for m in by_path["matches"]] == ["\\Docs\\Reports\\2024\\Q2.TXT"]


def test_mbr_primary_and_logical_volumes(guest, tmp_path):
    with pytest.raises(DataMoverError, match=r"several NTFS volumes, partitions 1 \(.*\), 5 \(.*\): set partition"):
        runs.run("ls", guest["repo"], vm="web01", disk="mbr.vhdx")
    first = runs.run("ls", guest["repo"], vm="web01", disk="mbr.vhdx", partition=1)
    assert [e["name"] for e in first["entries"]] == ["one.txt"]
    runs.run(
        "restore_file",
        guest["repo"],
        vm="web01",
        disk="mbr.vhdx",
        partition=5,
        path="\\deep",
        destination=str(tmp_path),
    )
    assert sha256_tree(tmp_path / "deep") == {"\\er\\two.bin": guest["mbr"]["second"].hashes()["\\deep\\er\\two.bin"]}


def test_a_disk_must_be_named_when_the_point_has_several(guest):
    with pytest.raises(DataMoverError, match=r"several disks \(gpt.vhdx, mbr.vhdx\): set disk"):
        runs.run("ls", guest["repo"], vm="web01")


def test_existing_files_are_kept_unless_overwrite_and_check_mode_writes_nothing(guest, tmp_path):
    params = {"vm": "web01", "disk": "gpt.vhdx", "path": "\\Docs", "destination": str(tmp_path)}
    planned = runs.run("restore_file", guest["repo"], check_mode=True, **params)
    assert list(tmp_path.iterdir()) == [] and planned["bytes_written"] == 0
    assert str(tmp_path / "Docs" / "notes.txt") in [o["target"] for o in planned["outputs"]]
    runs.run("restore_file", guest["repo"], **params)
    (tmp_path / "Docs" / "notes.txt").write_bytes(b"mine")
    with pytest.raises(DataMoverError, match=r"destination exists: .*notes.txt.* \(set overwrite to replace\)"):
        runs.run("restore_file", guest["repo"], **params)
    assert (tmp_path / "Docs" / "notes.txt").read_bytes() == b"mine"
    runs.run("restore_file", guest["repo"], overwrite=True, **params)
    assert (tmp_path / "Docs" / "notes.txt").read_bytes() == guest["volume"].files["\\Docs\\notes.txt"]


def test_a_missing_guest_path_is_named(guest):
    with pytest.raises(DataMoverError, match=r"\\Docs\\nothing does not exist on partition 2 of disk gpt.vhdx"):
        runs.run("ls", guest["repo"], vm="web01", disk="gpt.vhdx", path="\\Docs\\nothing")


def _damage_chunk_at(repository: Path, disk_offset: int) -> None:
    """Flip a byte in the stored blob of the chunk of gpt.vhdx that holds ``disk_offset``."""
    repo = Repository(str(repository))
    repo.load_index()
    point = find_point(repo, "web01", "latest")
    stream = chunk_lists(repo, point)[next(d["stream"] for d in point["disks"] if d["name"] == "gpt.vhdx")]
    number = disk_offset // stream.chunk_size
    location = repo.index.lookup(stream.id_of(number))
    repo.close()
    with open(repo.pack_path(location.pack_id), "r+b") as pack:
        pack.seek(location.offset + location.stored_length // 2)
        byte = pack.read(1)
        pack.seek(-1, os.SEEK_CUR)
        pack.write(bytes([byte[0] ^ 0xFF]))


def test_a_damaged_chunk_under_a_file_names_the_file_and_offset_and_writes_nothing(guest, tmp_path):
    repository = tmp_path / "repo"
    shutil.copytree(guest["repo"], repository)
    raw = guest["raw"].read_bytes()
    start = raw.index(BIG[:4096])  # where ntfscp put the file (one run on a fresh volume)
    assert raw[start : start + len(BIG)] == BIG
    damaged = (start + 3 * MiB) // MiB * MiB
    _damage_chunk_at(repository, damaged)
    out = tmp_path / "out"
    params = {"vm": "web01", "disk": "gpt.vhdx", "path": "\\big.bin", "destination": str(out)}
    where = rf"\\big.bin on partition 2 of disk gpt.vhdx is damaged at file offset {damaged - start}: "
    with pytest.raises(CorruptionError, match=where + rf"disk gpt.vhdx at offset {damaged}: chunk .*checksum"):
        runs.run("restore_file", repository, **params)
    assert not out.exists() or list(out.iterdir()) == []
    runs.run("restore_file", repository, **dict(params, path="\\small.txt"))  # the rest still reads
    assert (out / "small.txt").read_bytes() == guest["volume"].files["\\small.txt"]


def test_the_command_line_lists_finds_and_extracts_with_progress(guest, tmp_path):
    repository, common = str(guest["repo"]), ["--vm", "web01", "--disk", "gpt.vhdx"]
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["ls", repository, *common], environ={}, stdout=out, stderr=err) == 0
    assert "\\big.bin" in out.getvalue() and f"{len(BIG):>14}" in out.getvalue()
    out = io.StringIO()
    assert cli.main(["find", repository, "*.TXT", "--path", "/Docs", *common], environ={}, stdout=out, stderr=err) == 0
    assert "\\Docs\\notes.txt" in out.getvalue()
    err = io.StringIO()
    argv = ["restore-file", repository, "\\big.bin", str(tmp_path), "--progress", *common]
    assert cli.main(argv, environ={}, stdout=io.StringIO(), stderr=err) == 0
    assert "100.0%" in err.getvalue() and (tmp_path / "big.bin").read_bytes() == BIG


def test_the_options_document_carries_the_guest_query():
    options = runs.options(
        "restore_file",
        "/srv/repo",
        vm="web01",
        disk="a.vhdx",
        partition=2,
        path="\\x",
        destination="/srv/out",
        overwrite=True,
    )
    assert DataMoverOptions.from_json(options.to_json()) == options
    with pytest.raises(DataMoverError, match="find needs pattern"):
        runs.options("find", "/srv/repo", vm="web01")
