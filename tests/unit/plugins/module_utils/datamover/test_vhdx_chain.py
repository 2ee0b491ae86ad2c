"""Differencing chains (.avhdx) made with VhdxWriter(parent=...), read through our reader and libvhdi."""

from __future__ import annotations

import os
import shutil

import pytest
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
