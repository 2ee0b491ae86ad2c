"""Differencing chains (.avhdx) made with VhdxWriter(parent=...), read through our reader and libvhdi."""

from __future__ import annotations

import os
import shutil

import pytest
import runs
from qemu import MiB, blocks_holding_nonzero, convert_to_vhdx, make_raw, merge, pattern
from vhdx_oracles import libvhdi_read

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

SIZE = 64 * MiB
BLOCK = 2 * MiB


CHAIN_WRITES = {
    "mid.avhdx": [
        (512, pattern("m1", 1024)),
        (MiB, bytes(4096)),
        (30 * MiB, pattern("m2", MiB + 4096)),
        (41 * MiB, pattern("m3", 8192)),
    ],
    "top.avhdx": [(0, pattern("t1", 4096)), (30 * MiB + 8192, bytes(8192)), (50 * MiB, pattern("t2", 4096))],
}


def build_chain(folder, sector=512):
    """base (qemu-made) <- mid.avhdx <- top.avhdx; returns the paths and the expected content of each level."""
    base_raw = folder / "base.img"
    base_content = make_raw(base_raw, SIZE, [(0, 3 * MiB, "data"), (20 * MiB, MiB, "data"), (40 * MiB, 512, "data")])
    if sector == 512:
        base = convert_to_vhdx(base_raw, folder / "base.vhdx", block_size="2M", block_state_zero="off")
    else:
        base = folder / "base.vhdx"
        with VhdxWriter(str(base), SIZE, block_size=BLOCK, logical_sector_size=sector) as writer:
            writer.write(0, base_content)
    levels = [bytearray(base_content)]
    paths, parent = [base], base
    for name, changes in CHAIN_WRITES.items():
        path = folder / name
        content = bytearray(levels[-1])
        with VhdxWriter(str(path), SIZE, block_size=BLOCK, logical_sector_size=sector, parent=str(parent)) as w:
            for offset, data in changes:
                if sector == 4096:
                    offset, data = offset // 4096 * 4096, data.ljust(-(-len(data) // 4096) * 4096, b"\x01")
                w.write(offset, data)
                content[offset : offset + len(data)] = data
        levels.append(content)
        paths.append(path)
        parent = path
    return paths, [bytes(level) for level in levels]


@pytest.mark.parametrize("sector", [512, 4096])
def test_each_level_reads_like_libvhdi_and_expected(tmp_path, sector):
    paths, levels = build_chain(tmp_path, sector)
    for depth in range(1, 3):
        parents = list(reversed(paths[:depth]))
        with open_disk(str(paths[depth])) as source:
            content = source.read(0, SIZE)
            assert content == levels[depth]
            assert source.chain == [str(path) for path in reversed(paths[: depth + 1])]
            assert source.disk_id is not None and source.disk_id != source.parent.disk_id
        assert libvhdi_read(paths[depth], SIZE, parents) == levels[depth]


def test_extents_are_the_union_over_the_chain_at_sector_precision(tmp_path):
    paths, levels = build_chain(tmp_path)
    stored_by_children = [(offset, offset + len(data)) for changes in CHAIN_WRITES.values() for offset, data in changes]
    expected = merge(blocks_holding_nonzero(levels[0], BLOCK) + stored_by_children)
    with open_disk(str(paths[2])) as source:
        extents = list(source.extents())
    assert [(e.offset, e.offset + e.length) for e in extents if e.kind is ExtentKind.DATA] == expected
    assert {e.kind for e in extents} == {ExtentKind.DATA, ExtentKind.UNALLOCATED}
    for extent in extents:
        if extent.kind is ExtentKind.UNALLOCATED:
            assert levels[2][extent.offset : extent.offset + extent.length].strip(b"\x00") == b""


def test_partial_blocks_are_data_only_where_the_bitmap_says(tmp_path):
    paths, _ignored = build_chain(tmp_path)
    with open_disk(str(paths[2])) as source:
        data = [(e.offset, e.offset + e.length) for e in source.extents() if e.kind is ExtentKind.DATA]
    # top wrote 4 KiB at 50 MiB into a block nobody else stored: exactly those sectors are DATA
    assert (50 * MiB, 50 * MiB + 4096) in data
    # mid wrote 1 MiB + 4 KiB at 30 MiB (block 15 = 30..32 MiB, parent unallocated there)
    assert (30 * MiB, 31 * MiB + 4096) in data
    # base's fully present blocks stay DATA as a whole
    assert (20 * MiB, 22 * MiB) in data


def test_parent_found_by_relative_path_after_moving_the_chain(tmp_path):
    (tmp_path / "a").mkdir()
    _ignored, levels = build_chain(tmp_path / "a")
    moved = tmp_path / "moved"
    shutil.move(str(tmp_path / "a"), str(moved))
    with open_disk(str(moved / "top.avhdx")) as source:
        assert source.parent.path == str(moved / "mid.avhdx")
        assert source.read(0, SIZE) == levels[2]


def test_parent_found_by_absolute_path_when_relative_fails(tmp_path):
    (tmp_path / "a").mkdir()
    paths, levels = build_chain(tmp_path / "a")
    elsewhere = tmp_path / "b"
    elsewhere.mkdir()
    shutil.move(str(paths[2]), str(elsewhere / "top.avhdx"))  # relative ".\mid.avhdx" no longer resolves
    with open_disk(str(elsewhere / "top.avhdx")) as source:
        assert source.parent.path == str(paths[1])
        assert source.read(0, SIZE) == levels[2]


def test_missing_parent_is_a_clear_error(tmp_path):
    paths, _ignored = build_chain(tmp_path)
    os.rename(paths[1], tmp_path / "gone.avhdx")
    with pytest.raises(SourceError, match=r"top\.avhdx: parent disk not found \(tried: .*mid\.avhdx"):
        open_disk(str(paths[2]))


def test_replaced_parent_fails_the_linkage_check(tmp_path):
    paths, _ignored = build_chain(tmp_path)
    os.remove(paths[1])
    with VhdxWriter(str(paths[1]), SIZE, block_size=BLOCK, parent=str(paths[0])) as writer:
        writer.write(0, pattern("impostor", 4096))
    with pytest.raises(SourceError, match="does not match"):
        open_disk(str(paths[2]))


def test_chain_that_loops_back_is_refused(tmp_path):
    paths, _ignored = build_chain(tmp_path)
    # top -> mid -> base; make "base" a copy of top, whose parent is mid: mid -> base(=top) -> mid
    shutil.copyfile(paths[2], paths[0])
    with pytest.raises(SourceError, match="loops back"):
        open_disk(str(paths[1]))


def test_child_must_match_parent_size(tmp_path):
    paths, _ignored = build_chain(tmp_path)
    with pytest.raises(ValueError, match="match its parent"):
        VhdxWriter(str(tmp_path / "x.avhdx"), SIZE * 2, block_size=BLOCK, parent=str(paths[0]))


def test_parent_name_is_matched_without_regard_to_case_like_windows_does(tmp_path):
    paths, levels = build_chain(tmp_path)
    os.rename(paths[1], tmp_path / "MID.AVHDX")
    with open_disk(str(paths[2])) as source:
        assert source.parent.path.endswith("MID.AVHDX")
        assert source.read(0, SIZE) == levels[2]


def test_parent_linkage2_is_accepted_as_the_alternative_linkage(tmp_path, monkeypatch):
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import writer as vhdx_writer

    paths, levels = build_chain(tmp_path)
    real = vhdx_writer._parent_locator

    def with_linkage2(*args):
        locator = real(*args)
        stranger = "{00000000-0000-4000-8000-000000000001}"
        return {**locator, "parent_linkage": stranger, "parent_linkage2": locator["parent_linkage"]}

    monkeypatch.setattr(vhdx_writer, "_parent_locator", with_linkage2)
    child = tmp_path / "alt.avhdx"
    with VhdxWriter(str(child), SIZE, block_size=BLOCK, parent=str(paths[2])) as writer:
        writer.write(0, pattern("alt", 512))
    with open_disk(str(child)) as source:
        assert source.read(0, SIZE) == pattern("alt", 512) + levels[2][512:]


def scattered_chain(folder):
    """build_chain's files, each moved to a folder of its own where neither locator path of its child leads (as
    shadow copies of two volumes are two folders on a proxy); returns the new paths and the levels."""
    (folder / "made").mkdir()
    paths, levels = build_chain(folder / "made")
    moved = []
    for number, path in enumerate(paths):
        (folder / f"vol{number}").mkdir()
        moved.append(folder / f"vol{number}" / path.name)
        shutil.move(str(path), str(moved[-1]))
    return moved, levels


def test_parents_the_host_names_are_read_where_the_locator_cannot_lead(tmp_path):
    paths, levels = scattered_chain(tmp_path)
    with pytest.raises(SourceError, match=r"top\.avhdx: parent disk not found \(tried: "):
        open_disk(str(paths[2]))
    with open_disk(str(paths[2]), (str(paths[1]), str(paths[0]))) as source:
        assert source.chain == [str(paths[2]), str(paths[1]), str(paths[0])]
        assert source.read(0, SIZE) == levels[2]


def test_below_the_last_named_parent_the_locator_is_followed(tmp_path):
    paths, levels = build_chain(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    mid = tmp_path / "elsewhere" / "mid.avhdx"
    shutil.move(str(paths[1]), str(mid))  # mid's locator still leads to base by its absolute path
    with open_disk(str(paths[2]), (str(mid),)) as source:
        assert source.chain == [str(paths[2]), str(mid), str(paths[0])]
        assert source.read(0, SIZE) == levels[2]


def test_a_named_parent_must_be_the_one_the_child_was_made_from(tmp_path):
    paths, _ignored = scattered_chain(tmp_path)
    with pytest.raises(SourceError, match=r"top\.avhdx: parent .*base\.vhdx does not match"):
        open_disk(str(paths[2]), (str(paths[0]),))  # base in mid's place
    with pytest.raises(SourceError, match=r"as its host names it: .*nowhere\.avhdx"):
        open_disk(str(paths[2]), (str(tmp_path / "nowhere.avhdx"),))


def test_parents_named_for_a_disk_without_a_parent_are_refused(tmp_path):
    paths, _ignored = build_chain(tmp_path)
    with pytest.raises(SourceError, match=r"base\.vhdx: its host names parent .*, but the file is not a differencing"):
        open_disk(str(paths[0]), (str(paths[1]),))
    raw = tmp_path / "disk.img"
    make_raw(raw, MiB, [(0, 4096, "data")])
    with pytest.raises(SourceError, match="parents are given, but it is not a VHDX differencing disk"):
        open_disk(str(raw), (str(paths[0]),))


def test_a_backup_reads_a_scattered_chain_through_the_parents_named_and_restores_it(tmp_path):
    paths, levels = scattered_chain(tmp_path)
    top, named = str(paths[2]), [str(paths[1]), str(paths[0])]
    repo = tmp_path / "repo"
    runs.backup(repo, "vm1", [top], parents={"top.avhdx": named})  # keyed by file name, as change_ids may be
    job = [{"vm": "vm2", "sources": [top], "parents": {top: named}}]
    assert runs.run("backup", repo, jobs=job)["failed_vms"] == []
    for vm in ("vm1", "vm2"):
        runs.restore(repo, vm, str(tmp_path / vm))
        with open_disk(str(tmp_path / vm / "top.vhdx")) as restored:
            assert restored.parent is None and restored.read(0, SIZE) == levels[2]
    failed = runs.run("backup", repo, jobs=[{"vm": "vm3", "sources": [top]}])["results"][0]
    assert failed["failed"] and "parent disk not found" in failed["msg"]  # the locator alone cannot find them
