"""Fixtures of the data mover engine tests (the fakes themselves live in datamover_fakes.py)."""

from __future__ import annotations

import pytest
from datamover_fakes import FakeDisk, open_fake_disk


@pytest.fixture
def fake_disks(monkeypatch):
    """Make the engine open disks through FakeDisk and reset its read counter."""
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine

    monkeypatch.setattr(engine, "open_disk", open_fake_disk)
    FakeDisk.bytes_read_total = 0
    return FakeDisk
