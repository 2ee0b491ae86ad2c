"""Partition tables as sgdisk and parted write them (and damaged), and guest names made safe for the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from guest_disks import tool

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.extract import _check_inside, safe_name
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.partition import partitions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.targets import LocalFolder
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.view import RandomAccessFile

MiB = 1 << 20


class ImageFile(RandomAccessFile):
    """A disk image on the host, read as the partition parser reads a stored disk."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.data = path.read_bytes()
        self.size = len(self.data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def gpt_image(path: Path) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(32 * MiB)
    tool("sgdisk", "-o", "-n", "1:2048:+4M", "-t", "1:EF00", "-n", "3:0:+8M", "-t", "3:0700", "-c", "3:Data", str(path))
    return path


def test_gpt_entries_as_sgdisk_wrote_them(tmp_path):
    found = partitions(ImageFile(gpt_image(tmp_path / "d.raw")))
    assert [(p.number, p.offset, p.size, p.scheme) for p in found] == [
        (1, MiB, 4 * MiB, "gpt"),
        (3, 5 * MiB, 8 * MiB, "gpt"),
    ]
    assert found[0].type.endswith("(EFI system)") and found[1].name == "Data" and found[1].filesystem is None


def test_a_damaged_primary_gpt_header_falls_back_to_the_backup(tmp_path):
    image = gpt_image(tmp_path / "d.raw")
    with open(image, "r+b") as handle:
        handle.seek(512 + 72)
        handle.write((3).to_bytes(8, "little"))  # the primary header's entries LBA: taken, it would misread
    assert [p.number for p in partitions(ImageFile(image))] == [1, 3]


def test_damaged_gpt_entries_are_refused(tmp_path):
    image = gpt_image(tmp_path / "d.raw")
    with open(image, "r+b") as handle:  # the primary entries, then the backup's (32 sectors before the last)
        for offset in (1024 + 56, 32 * MiB - 33 * 512 + 56):
            handle.seek(offset)
            handle.write(b"\xff")
    with pytest.raises(DataMoverError, match="GPT partition entries fail their CRC32 check"):
        partitions(ImageFile(image))


def test_mbr_primary_and_logical_partitions_as_parted_wrote_them(tmp_path):
    image = tmp_path / "m.raw"
    with open(image, "wb") as handle:
        handle.truncate(32 * MiB)
    for args in (
        ("mklabel", "msdos"),
        ("mkpart", "primary", "1MiB", "5MiB"),
        ("mkpart", "extended", "5MiB", "31MiB"),
        ("mkpart", "logical", "6MiB", "10MiB"),
        ("mkpart", "logical", "11MiB", "20MiB"),
    ):
        tool("parted", "-s", str(image), *args)
    found = partitions(ImageFile(image))
    assert [(p.number, p.offset, p.size, p.scheme) for p in found] == [
        (1, MiB, 4 * MiB, "mbr"),
        (5, 6 * MiB, 4 * MiB, "mbr"),
        (6, 11 * MiB, 9 * MiB, "mbr"),
    ]


@pytest.mark.parametrize(
    "name, safe",
    [
        ("..", "_._"),  # and no trailing period, which Windows would strip
        (".", "__"),
        ("a/b", "a_b"),
        ("c:\\d", "c__d"),
        ("x\x00\x1fy", "x__y"),
        ("ok.txt", "ok.txt"),
        ("CON", "_CON"),
        ("aux", "_aux"),
        ("Nul.txt", "_Nul.txt"),
        ("COM9.log.gz", "_COM9.log.gz"),
        ("LPT\u00b9", "_LPT\u00b9"),
        ("CONSOLE", "CONSOLE"),
        ("COM10", "COM10"),
        ("name. ", "name._"),
        ("name ", "name_"),
    ],
)
def test_guest_names_become_one_safe_component(name, safe):
    assert safe_name(name) == safe


def test_a_target_reached_through_a_link_out_of_the_destination_is_refused(tmp_path):
    destination, outside = tmp_path / "dest", tmp_path / "outside"
    destination.mkdir()
    outside.mkdir()
    os.symlink(outside, destination / "Docs")
    with pytest.raises(DataMoverError, match="outside the destination"):
        _check_inside(LocalFolder(str(destination)), str(destination / "Docs" / "a.txt"))
