"""Fixtures of the data mover engine tests (the fakes themselves live in datamover_fakes.py)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import runs
from datamover_fakes import FakeDisk, make_image, open_fake_disk

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session


class FakeDisks:
    """The data mover's calls that open disks, given ``opener`` (FakeDisk by default) as their disk opener.

    ``bytes_read_total`` counts what the fakes were asked to read since the fixture started.
    """

    def __init__(self, opener: Callable[[str], FakeDisk] = open_fake_disk) -> None:
        self.opener = opener

    def backup(self, *args: Any, **kwargs: Any) -> dict:
        return runs.backup(*args, disk_opener=self.opener, **kwargs)

    def open_session(self, *args: Any, **kwargs: Any) -> Session:
        return runs.open_session(*args, disk_opener=self.opener, **kwargs)

    @property
    def bytes_read_total(self) -> int:
        return FakeDisk.bytes_read_total

    @bytes_read_total.setter
    def bytes_read_total(self, value: int) -> None:
        FakeDisk.bytes_read_total = value


@pytest.fixture
def fake_disks() -> FakeDisks:
    """Back up through FakeDisk (injected as the disk opener) with its read counter reset."""
    FakeDisk.bytes_read_total = 0
    return FakeDisks()


@pytest.fixture
def disk24(tmp_path):
    """A 24 MiB raw disk image with data, zeros and holes, named disk0.raw (tests of changed ranges)."""
    path = tmp_path / "disk0.raw"
    make_image(str(path), 24 << 20, seed=7)
    return path
