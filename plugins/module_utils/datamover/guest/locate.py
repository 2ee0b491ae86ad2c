"""From a restore point to one NTFS volume inside it: which disk, which partition, opened for reading.

A disk or partition left unnamed is chosen only when the choice is unambiguous (the point's one disk, the
disk's one NTFS volume); otherwise the error names what there is to choose from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.ntfs import Volume
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.partition import Partition, partitions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.view import DiskView, ReadCounter, Window
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository


@dataclass(frozen=True)
class GuestVolume:
    """One opened volume and where it lies; ``counter`` says what reading it has cost so far."""

    disk: str
    partition: Partition
    partitions: List[Partition]
    volume: Volume
    counter: ReadCounter

    def where(self) -> dict:
        return {"disk": self.disk, "partition": self.partition.number}


def open_volume(repo: Repository, point: dict, disk: Optional[str], partition: Optional[int]) -> GuestVolume:
    """The NTFS volume ``partition`` of disk ``disk`` of ``point`` in an opened, indexed repository."""
    record = _disk_record(point, disk)
    chunks = chunk_lists(repo, point)[record["stream"]]
    counter = ReadCounter()
    view = DiskView(repo, chunks, f"disk {record['name']}", counter)
    found = partitions(view, record.get("logical_sector_size") or 512)
    chosen = _partition(found, partition, record["name"])
    label = f"partition {chosen.number} of disk {record['name']}"
    volume = Volume(Window(view, chosen.offset, chosen.size), label)
    return GuestVolume(record["name"], chosen, found, volume, counter)


def _disk_record(point: dict, name: Optional[str]) -> dict:
    disks = point["disks"]
    names = ", ".join(d["name"] for d in disks) or "none"
    if name is None and len(disks) == 1:
        return disks[0]
    if name is None:
        raise DataMoverError(f"restore point {point['id']} has several disks ({names}): set disk to one of them")
    for record in disks:
        if record["name"] == name:
            return record
    raise DataMoverError(f"restore point {point['id']} has no disk {name!r} (its disks: {names})")


def _partition(found: List[Partition], number: Optional[int], disk: str) -> Partition:
    ntfs = [part for part in found if part.filesystem == "ntfs"]
    described = ", ".join(f"{p.number} ({p.name or p.type}, {p.size >> 20} MiB)" for p in ntfs) or "none"
    if number is None and len(ntfs) == 1:
        return ntfs[0]
    if number is None and not ntfs:
        listed = ", ".join(f"{p.number} ({p.name or p.type})" for p in found) or "none"
        raise DataMoverError(f"disk {disk} holds no NTFS volume (partitions: {listed})")
    if number is None:
        raise DataMoverError(f"disk {disk} has several NTFS volumes, partitions {described}: set partition")
    for part in found:
        if part.number == number and part.filesystem == "ntfs":
            return part
        if part.number == number:
            raise DataMoverError(f"partition {number} of disk {disk} is not NTFS (NTFS volumes: {described})")
    raise DataMoverError(f"disk {disk} has no partition {number} (NTFS volumes: {described})")
