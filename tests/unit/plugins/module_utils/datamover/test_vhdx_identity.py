"""A restored VHDX keeps its source's identity and geometry (MS-VHDX 2.6.2.1-2.6.2.6), judged field by field by
independent readers (dissect.hypervisor and libvhdi), its content by `qemu-img compare`.

Sources come from qemu-img where it can make them (dynamic and fixed, 1 MiB and 32 MiB blocks, 512-byte logical
sectors); qemu-img cannot set sector sizes, so 4096-byte logical sectors and 512-byte physical sectors on a dynamic
disk are made with the collection's writer, and qemu cannot open 4096-byte logical sectors, so libvhdi compares
those. A differencing disk (the writer's too: qemu-img cannot make one)
restores as one dynamic VHDX with its own disk id, and its record keeps the parent linkage.
"""

from __future__ import annotations

import uuid

import pytest
import pyvhdi
from dissect.hypervisor.disk import c_vhdx
from dissect.hypervisor.disk.vhdx import VHDX
from qemu import convert_to_vhdx, make_raw, pattern, qemu_img
from runs import backup, points, restore
from vhdx_oracles import libvhdi_read

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.outputs import open_output

MiB = 1 << 20
SIZE = 72 * MiB  # more than two 32 MiB blocks, the last one partial
LAYOUT = [(0, 3 * MiB, "data"), (5 * MiB, MiB, "zero"), (33 * MiB + 4096, 2 * MiB, "data"), (70 * MiB, MiB, "data")]
LIBVHDI_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}  # libvhdi's LIBVHDI_DISK_TYPE_* values


def independent_view(path) -> dict:
    """Every identity and geometry field as dissect.hypervisor and libvhdi read it (both must agree)."""
    with open(path, "rb") as handle:
        disk = VHDX(handle)
        parameters = disk.metadata.get(c_vhdx.FILE_PARAMETERS_GUID)
        view = {
            "disk_id": str(disk.id),
            "block_size": disk.block_size,
            "logical_sector_size": disk.sector_size,
            "physical_sector_size": disk.metadata.get(c_vhdx.PHYSICAL_SECTOR_SIZE_GUID),
            "virtual_size": disk.size,
            "has_parent": bool(parameters.has_parent),
            "leave_block_allocated": bool(parameters.leave_block_allocated),
            "data_write_guid": str(uuid.UUID(bytes_le=disk.header.data_write_guid)),
            "locator": dict(disk.parent_locator.entries) if disk.parent_locator is not None else None,
        }
    libvhdi = pyvhdi.file()
    libvhdi.open(str(path))
    try:
        assert libvhdi.bytes_per_sector == view["logical_sector_size"]
        assert libvhdi.media_size == view["virtual_size"]
        assert str(libvhdi.identifier) == view["data_write_guid"]  # libvhdi's "identifier" is the data write GUID
        view["vhd_type"] = LIBVHDI_TYPES[libvhdi.disk_type]
        view["parent_linkage"] = str(libvhdi.parent_identifier) if libvhdi.parent_identifier else None
    finally:
        libvhdi.close()
    return view


IDENTITY = ("disk_id", "block_size", "logical_sector_size", "physical_sector_size", "virtual_size", "vhd_type")


def by_qemu(tmp_path, subformat: str, block_size: str):
    raw = tmp_path / "content.raw"
    make_raw(raw, SIZE, LAYOUT)
    return convert_to_vhdx(raw, tmp_path / "src.vhdx", subformat=subformat, block_size=block_size, log_size="1M")


def by_writer(tmp_path, fixed: bool, block_size: int, logical: int, physical: int):
    path = tmp_path / "src.vhdx"
    with VhdxWriter(
        str(path), SIZE, block_size=block_size, logical_sector_size=logical, physical_sector_size=physical, fixed=fixed
    ) as writer:
        for offset, length, kind in LAYOUT:
            writer.write(offset, pattern(f"w@{offset}", length) if kind == "data" else bytes(length))
    return path


SHAPES = {
    "qemu-dynamic-1M": lambda tmp: by_qemu(tmp, "dynamic", "1M"),
    "qemu-dynamic-32M": lambda tmp: by_qemu(tmp, "dynamic", "32M"),
    "qemu-fixed-1M": lambda tmp: by_qemu(tmp, "fixed", "1M"),
    "qemu-fixed-32M": lambda tmp: by_qemu(tmp, "fixed", "32M"),
    "writer-dynamic-4096-1M": lambda tmp: by_writer(tmp, False, MiB, 4096, 4096),
    "writer-fixed-4096-32M": lambda tmp: by_writer(tmp, True, 32 * MiB, 4096, 4096),
    "writer-dynamic-512-physical-512": lambda tmp: by_writer(tmp, False, 32 * MiB, 512, 512),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_restored_vhdx_keeps_identity_and_geometry(tmp_path, shape):
    source = SHAPES[shape](tmp_path)
    before = independent_view(source)
    backup(tmp_path / "repo", "vm1", [str(source)])
    recorded = points(tmp_path / "repo", "vm1")["vms"]["vm1"][0]["disks"][0]
    assert (recorded["disk_id"], recorded["vhd_type"]) == (before["disk_id"], before["vhd_type"])

    result = restore(tmp_path / "repo", "vm1", str(tmp_path / "out"))
    restored = tmp_path / "out" / "src.vhdx"
    after = independent_view(restored)
    assert {key: after[key] for key in IDENTITY} == {key: before[key] for key in IDENTITY}
    assert after["leave_block_allocated"] == before["leave_block_allocated"] == (before["vhd_type"] == "fixed")
    assert after["data_write_guid"] != before["data_write_guid"]  # a new file: new content, new write GUIDs
    assert result["outputs"][0]["disk_id"] == before["disk_id"]
    assert result["outputs"][0]["vhd_type"] == before["vhd_type"]
    assert_same_content(source, restored, before["logical_sector_size"])


def assert_same_content(source, restored, logical_sector_size: int) -> None:
    """`qemu-img compare`; qemu opens no VHDX of 4096-byte logical sectors ("Operation not supported"), so those
    are compared as libvhdi reads them."""
    if logical_sector_size == 512:
        qemu_img("compare", "-q", "-f", "vhdx", "-F", "vhdx", str(source), str(restored))
    else:
        assert libvhdi_read(restored, SIZE) == libvhdi_read(source, SIZE)


def test_differencing_disk_restores_as_one_vhdx_with_its_own_id_and_records_its_linkage(tmp_path):
    base = by_writer(tmp_path, False, MiB, 512, 4096)
    child = tmp_path / "child.avhdx"
    with VhdxWriter(str(child), SIZE, block_size=2 * MiB, parent=str(base)) as writer:
        writer.write(MiB, pattern("child", 3 * MiB))
    parent_view, child_view = independent_view(base), independent_view(child)
    assert child_view["parent_linkage"] == parent_view["data_write_guid"]

    backup(tmp_path / "repo", "vm1", [str(child)])
    recorded = points(tmp_path / "repo", "vm1")["vms"]["vm1"][0]["disks"][0]
    assert recorded["vhd_type"] == "differencing" and recorded["disk_id"] == child_view["disk_id"]
    assert recorded["parent_locator"] == child_view["locator"]
    assert uuid.UUID(recorded["parent_locator"]["parent_linkage"]) == uuid.UUID(parent_view["data_write_guid"])

    result = restore(tmp_path / "repo", "vm1", str(tmp_path / "out"))
    restored = independent_view(tmp_path / "out" / "child.vhdx")
    assert (restored["vhd_type"], restored["has_parent"], restored["locator"]) == ("dynamic", False, None)
    assert restored["disk_id"] == child_view["disk_id"] != parent_view["disk_id"]
    assert result["outputs"][0]["vhd_type"] == "dynamic"
    assert libvhdi_read(tmp_path / "out" / "child.vhdx", SIZE) == libvhdi_read(child, SIZE, [base])


def test_a_record_without_identity_restores_as_before_a_new_id_and_a_dynamic_disk(tmp_path):
    """Restore points written before identity was recorded (format version 1 all the same)."""
    record = {"name": "old.vhdx", "virtual_size": 8 * MiB, "logical_sector_size": 512, "block_size": MiB}
    outputs = []
    for name in ("a.vhdx", "b.vhdx"):
        output = open_output(str(tmp_path / name), "vhdx", record)
        output.write(0, pattern("old", MiB))
        outputs.append(output.identity())
        output.commit()
    views = [independent_view(tmp_path / name) for name in ("a.vhdx", "b.vhdx")]
    assert [view["vhd_type"] for view in views] == ["dynamic", "dynamic"]
    assert views[0]["disk_id"] != views[1]["disk_id"]
    assert [output["disk_id"] for output in outputs] == [view["disk_id"] for view in views]
