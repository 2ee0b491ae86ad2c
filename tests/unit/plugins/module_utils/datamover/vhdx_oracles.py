"""Independent judges for VHDX tests: libvhdi (pyvhdi) reads, and the "opens correctly or SourceError" rule."""

from __future__ import annotations

import pyvhdi

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

MiB = 1 << 20


def libvhdi_read(path, size, parents=()):
    """The first `size` bytes of `path` as libvhdi reads them; `parents` lists the chain, nearest first."""
    handles = [pyvhdi.file() for _ignored in range(len(parents) + 1)]
    for handle, name in zip(handles, [path, *parents]):
        handle.open(str(name))
    for child, parent in zip(handles, handles[1:]):
        child.set_parent(parent)
    data = handles[0].read_buffer_at_offset(size, 0)
    for handle in handles:
        handle.close()
    return data


def open_and_read_everything(path, limit=64 * MiB):
    """Open, map and read the disk (up to `limit`); the only failure allowed is SourceError naming the file.

    Returns the first bytes read, or None when the file was refused.
    """
    try:
        with open_disk(str(path)) as source:
            extents = list(source.extents())
            assert sum(extent.length for extent in extents) == source.virtual_size
            for offset in range(0, min(source.virtual_size, limit), MiB):
                source.read(offset, min(MiB, source.virtual_size - offset))
            return source.read(0, min(source.virtual_size, 8 * MiB))
    except SourceError as exc:
        assert str(path) in str(exc)
        return None
