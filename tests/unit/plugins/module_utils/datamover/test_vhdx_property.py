"""Property tests: random chains of random writes read like libvhdi, and extents never hide stored data.

Also feeds random damage into a differencing child and into a file with a pending log: every
outcome is a correct open or a SourceError naming the file.
"""

from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qemu import MiB, pattern
from vhdx_oracles import libvhdi_read, open_and_read_everything
from vhdx_surgery import get_bat_entry, log_entry, make_log_pending

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

SIZE = 6 * MiB
SECTORS = SIZE // 512
WRITE = st.tuples(st.integers(0, SECTORS - 1), st.integers(1, 3000), st.booleans())
LEVELS = st.lists(st.lists(WRITE, max_size=5), min_size=1, max_size=3)
SLOW_OK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def build(folder, levels):
    """One file per level (the first is a dynamic disk, the others its differencing children)."""
    paths, content, parent = [], bytearray(SIZE), None
    for depth, writes in enumerate(levels):
        path = folder / f"level{depth}.{'vhdx' if depth == 0 else 'avhdx'}"
        with VhdxWriter(str(path), SIZE, block_size=MiB, parent=parent) as writer:
            for number, (sector, count, zero) in enumerate(writes):
                count = min(count, SECTORS - sector)
                data = bytes(count * 512) if zero else pattern(f"{depth}/{number}", count * 512)
                writer.write(sector * 512, data)
                content[sector * 512 : (sector + count) * 512] = data
        paths.append(path)
        parent = str(path)
    return paths, bytes(content)


@SLOW_OK
@given(levels=LEVELS)
def test_random_chains_read_like_libvhdi_and_extents_are_honest(tmp_path_factory, levels):
    folder = tmp_path_factory.mktemp("chain")
    paths, expected = build(folder, levels)
    with open_disk(str(paths[-1])) as source:
        assert source.read(0, SIZE) == expected
        extents = list(source.extents())
    assert libvhdi_read(paths[-1], SIZE, list(reversed(paths[:-1]))) == expected
    position = 0
    for extent in extents:
        assert extent.offset == position
        position += extent.length
        if extent.kind is not ExtentKind.DATA:  # skipped without reading: must really be zero
            assert expected[extent.offset : extent.offset + extent.length].strip(b"\x00") == b""
    assert position == SIZE


@pytest.fixture(scope="module")
def chain_files(tmp_path_factory):
    """A small two-level chain, and a dynamic disk with a pending log entry, as bytes."""
    folder = tmp_path_factory.mktemp("originals")
    paths, _ignored = build(folder, [[(0, 4000, False)], [(100, 50, False), (5000, 9, True)]])
    (folder / "logged").mkdir()
    logged, _ignored = build(folder / "logged", [[(0, 2048, False)]])
    log_guid = uuid.uuid4()
    entry = log_entry(log_guid, 9, data_writes=[(get_bat_entry(logged[0], 0) & ~7, pattern("log", 4096))])
    make_log_pending(logged[0], [(0, entry)], log_guid)
    return {"parent": paths[0].read_bytes(), "child": paths[1].read_bytes(), "logged": logged[0].read_bytes()}


def damaged_copy(folder, original, name, damage):
    image = bytearray(original)
    for offset, value in damage:
        if offset < len(image):
            image[offset] = value
    path = folder / name
    path.write_bytes(bytes(image))
    return path


@SLOW_OK
@given(damage=st.lists(st.tuples(st.integers(0, 5 * MiB), st.integers(0, 255)), min_size=1, max_size=8))
def test_damaged_differencing_child_opens_correctly_or_raises(tmp_path_factory, chain_files, damage):
    folder = tmp_path_factory.mktemp("damaged")
    (folder / "level0.vhdx").write_bytes(chain_files["parent"])
    child = damaged_copy(folder, chain_files["child"], "level1.avhdx", damage)
    started = time.perf_counter()
    open_and_read_everything(child)
    assert time.perf_counter() - started < 10  # generous: the machine is shared; a hang never ends


@SLOW_OK
@given(damage=st.lists(st.tuples(st.integers(MiB, 2 * MiB + 8192), st.integers(0, 255)), min_size=1, max_size=8))
def test_damaged_pending_log_replays_or_raises(tmp_path_factory, chain_files, damage):
    path = damaged_copy(tmp_path_factory.mktemp("log"), chain_files["logged"], "level0.vhdx", damage)
    started = time.perf_counter()
    content = open_and_read_everything(path)
    assert time.perf_counter() - started < 10  # generous: the machine is shared; a hang never ends
    if content is not None:  # replayed (entry intact) or not (entry damaged, so ignored)
        assert content[:4096] in (pattern("log", 4096), pattern("0/0", 4096))
