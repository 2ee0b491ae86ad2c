"""Bad input never crashes or hangs the reader: it opens correctly or raises SourceError naming the file."""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qemu import MiB, convert_to_vhdx, make_raw
from vhdx_oracles import open_and_read_everything
from vhdx_surgery import bat_offset, metadata_entry_offset, metadata_item_offset, pread, pwrite, regions

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

SIZE = 6 * MiB


@pytest.fixture(scope="module")
def small_vhdx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corrupt")
    raw = folder / "d.img"
    content = make_raw(raw, SIZE, [(0, 8192, "data"), (2 * MiB + 512, MiB, "data"), (SIZE - 512, 512, "data")])
    path = convert_to_vhdx(raw, folder / "d.vhdx", block_size="1M")
    return path.read_bytes(), content


@pytest.mark.parametrize("keep", [0, 100, 8, 70 * 1024, MiB - 1, MiB + 4096, 3 * MiB, 4 * MiB + 12345])
def test_truncated_files(tmp_path, small_vhdx, keep):
    image, content = small_vhdx
    path = tmp_path / "t.vhdx"
    path.write_bytes(image[:keep])
    result = open_and_read_everything(path)
    assert result is None or result == content[: len(result)]


# Mutations land where the structures are: file identifier, headers, region tables, log, metadata, BAT.
HOT_SPOTS = st.one_of(
    st.integers(0, 16),
    st.integers(64 * 1024, 64 * 1024 + 96),
    st.integers(128 * 1024, 128 * 1024 + 96),
    st.integers(192 * 1024, 192 * 1024 + 96),
    st.integers(256 * 1024, 256 * 1024 + 96),
    st.integers(MiB, 4 * MiB),
    st.integers(0, 8 * MiB),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(HOT_SPOTS, st.integers(0, 255)), min_size=1, max_size=6))
def test_random_corruption_opens_correctly_or_raises_source_error(tmp_path, small_vhdx, mutations):
    image, _ignored = small_vhdx
    damaged = bytearray(image)
    for offset, value in mutations:
        if offset < len(damaged):
            damaged[offset] = value
    path = tmp_path / "m.vhdx"
    path.write_bytes(bytes(damaged))
    started = time.perf_counter()
    open_and_read_everything(path)
    assert time.perf_counter() - started < 10  # generous: the machine is shared; a hang never ends


def set_metadata(guid, data):
    return lambda path: pwrite(path, metadata_item_offset(path, guid), data)


def set_bat(value):
    return lambda path: pwrite(path, bat_offset(path), struct.pack("<Q", value))


def set_metadata_entry(index, field_offset, data):
    return lambda path: pwrite(path, metadata_entry_offset(path, index) + field_offset, data)


def duplicate_metadata_entry(path):
    pwrite(path, metadata_entry_offset(path, 1), pread(path, metadata_entry_offset(path, 0), 16))


def set_region(guid, **changes):
    """Rewrite both region tables (with valid checksums) with one region changed or added."""

    def edit(path):
        table = regions(path)
        table[guid] = replace(table.get(guid, fmt.Region(0, 0, False)), **changes)
        for offset in fmt.REGION_TABLE_OFFSETS:
            pwrite(path, offset, fmt.build_region_table(table))

    return edit


UNKNOWN = uuid.UUID("0badc0de-0000-4000-8000-000000000000")
HOSTILE = {
    "huge virtual size, small BAT": (
        set_metadata(fmt.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 64 << 40)),
        "BAT .* too small",
    ),
    "virtual size over 64 TiB": (
        set_metadata(fmt.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", (64 << 40) + 512)),
        "virtual disk size",
    ),
    "virtual size not in sectors": (
        set_metadata(fmt.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 1000)),
        "virtual disk size",
    ),
    "block size not a power of two": (set_metadata(fmt.FILE_PARAMETERS_GUID, struct.pack("<I", 3 * MiB)), "block size"),
    "block size zero": (set_metadata(fmt.FILE_PARAMETERS_GUID, struct.pack("<I", 0)), "block size"),
    "block size 512 MiB": (set_metadata(fmt.FILE_PARAMETERS_GUID, struct.pack("<I", 512 * MiB)), "block size"),
    "sector size 1024": (set_metadata(fmt.LOGICAL_SECTOR_SIZE_GUID, struct.pack("<I", 1024)), "sector sizes"),
    "BAT entry beyond EOF": (set_bat((4000 << 20) | 6), "points outside the file"),
    "BAT entry into the header area": (set_bat(6), "points outside the file"),
    "metadata item beyond its region": (set_metadata_entry(0, 16, struct.pack("<I", 50 * MiB)), "outside the metadata"),
    "unknown required metadata item": (set_metadata_entry(0, 0, UNKNOWN.bytes_le), "required VHDX metadata item"),
    "duplicate metadata items": (duplicate_metadata_entry, "metadata table is corrupt"),
    "BAT region beyond EOF": (set_region(fmt.BAT_GUID, offset=4096 * MiB), "BAT region .* outside the file"),
    "metadata region unaligned": (set_region(fmt.METADATA_GUID, offset=MiB + 4096), "metadata region"),
    "unknown required region": (set_region(UNKNOWN, offset=MiB, length=MiB, required=True), "required VHDX region"),
    "has-parent flag without locator": (
        set_metadata(fmt.FILE_PARAMETERS_GUID, struct.pack("<II", MiB, 2)),
        "BAT .* too small|parent locator",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_structures_are_refused(tmp_path, small_vhdx, case):
    edit, message = HOSTILE[case]
    image, _ignored = small_vhdx
    path = tmp_path / "p.vhdx"
    path.write_bytes(image)
    edit(path)
    with pytest.raises(SourceError, match=message), open_disk(str(path)) as source:
        list(source.extents())
        source.read(0, source.virtual_size)


def test_unknown_optional_region_and_metadata_are_ignored(tmp_path, small_vhdx):
    image, content = small_vhdx
    path = tmp_path / "p.vhdx"
    path.write_bytes(image)
    set_region(UNKNOWN, offset=MiB, length=MiB, required=False)(path)
    with open_disk(str(path)) as source:
        assert source.read(0, SIZE) == content
