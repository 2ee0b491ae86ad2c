"""Durable publishing and positional I/O, including the fallback used where os.pread/os.pwrite are absent."""

from __future__ import annotations

import os

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import RepositoryError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import pread, publish, pwrite_all


@pytest.mark.parametrize("native", [True, False])
def test_positional_io_round_trip(tmp_path, monkeypatch, native):
    if not native:  # as on Windows
        monkeypatch.delattr(os, "pread")
        monkeypatch.delattr(os, "pwrite")
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        pwrite_all(fd, b"world", 6)
        pwrite_all(fd, b"hello ", 0)
        assert pread(fd, 100, 0) == b"hello world" and pread(fd, 3, 6) == b"wor"
    finally:
        os.close(fd)


def test_publish_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "tmp").mkdir()
    target = tmp_path / "file"
    publish(str(target), b"one", str(tmp_path / "tmp"))
    publish(str(target), b"two", str(tmp_path / "tmp"))
    assert target.read_bytes() == b"two" and not list((tmp_path / "tmp").iterdir())
    with pytest.raises(RepositoryError, match="writing"):
        publish(str(tmp_path / "missing" / "x"), b"!", str(tmp_path / "tmp"))
    assert not list((tmp_path / "tmp").iterdir())
