"""Audited changed ranges (issue 12): a disk read in full whose RCT ranges are checked against the data.

A host whose ranges leave out a change is the one failure the baseline checks cannot see (the ranges start at
the right RCT id); the audit reads everything, stores a correct restore point, and names the missed chunks.
"""

from __future__ import annotations

import pytest
import runs
from datamover_fakes import write_at

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import parse_changed_ranges
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions

MiB = 1 << 20
DISK = "disk0.raw"


def _changes(ranges, audit: bool) -> dict:
    return {DISK: {"since": "rct:1", "ranges": ranges, "reason": None, "audit": audit}}


def test_an_audit_names_the_chunks_the_ranges_missed_and_stores_them(tmp_path, disk24, fake_disks):
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:1"})
    write_at(disk24, 2 * MiB, b"reported" * 1000)
    write_at(disk24, 13 * MiB + 5, b"not reported" * 1000)  # the host leaves this one out
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=_changes([[2 * MiB, 8000]], True))
    info = result["incremental"][DISK]
    assert info["mode"] == "full" and info["fallback_reason"] == fallbacks.AUDITED
    assert info["rct_audit"] == {"chunks_checked": 23, "chunks_missed": 1, "missed_offsets": [13 * MiB]}
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / DISK).read_bytes() == disk24.read_bytes()


def test_honest_ranges_pass_the_audit(tmp_path, disk24, fake_disks):
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:1"})
    write_at(disk24, 7 * MiB, b"x" * 3 * MiB)
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=_changes([[7 * MiB, 3 * MiB]], True))
    assert result["incremental"][DISK]["rct_audit"]["chunks_missed"] == 0


def test_without_the_audit_missed_ranges_go_unseen(tmp_path, disk24, fake_disks):
    """Why the audit exists: the same lying answer, not audited, restores a disk that never existed."""
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:1"})
    write_at(disk24, 13 * MiB + 5, b"not reported" * 1000)
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=_changes([], False))
    assert result["incremental"][DISK]["mode"] == "changed_ranges"
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / DISK).read_bytes() != disk24.read_bytes()


def test_audit_must_be_a_boolean():
    with pytest.raises(DataMoverError, match="audit is true or false"):
        parse_changed_ranges({DISK: {"since": "rct:1", "ranges": [], "audit": "yes"}})


def test_the_audit_travels_in_the_options_document_to_a_windows_proxy():
    params = {"operation": "backup", "repository": "/r", "vm": "vm1", "source": [DISK]}
    audited = DataMoverOptions.from_params({**params, "changed_ranges": _changes([[0, 4096]], True)})
    assert DataMoverOptions.from_json(audited.to_json()) == audited
    plain = DataMoverOptions.from_params({**params, "changed_ranges": _changes([[0, 4096]], False)})
    assert "audit" not in plain.to_json()
