"""Quick rollback: a restore over an existing disk of the same size and format writes only the chunks that differ,
and gives the same content as a full restore (qemu-img compare for VHDX, the bytes for raw)."""

from __future__ import annotations

import filecmp
import hashlib
import io

import pytest
from qemu import convert_to_vhdx, file_state, make_raw, qemu_img, qemu_io
from runs import backup, restore
from test_vhdx_identity import independent_view

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.job_entries import parse_job

MiB = 1 << 20
SIZE = 40 * MiB
LAYOUT = [(0, 4 * MiB, "data"), (8 * MiB, MiB, "zero"), (20 * MiB, 3 * MiB, "data")]


def back_up(tmp_path, subformat="dynamic", block_size="1M"):
    """A VM backed up from a qemu-made VHDX; returns (repository, source)."""
    raw = tmp_path / "content.raw"
    make_raw(raw, SIZE, LAYOUT)
    source = convert_to_vhdx(raw, tmp_path / "os.vhdx", subformat=subformat, block_size=block_size)
    backup(tmp_path / "repo", "vm1", [str(source)])
    return tmp_path / "repo", source


@pytest.fixture
def backed_up(tmp_path):
    return back_up(tmp_path)


@pytest.mark.parametrize(("subformat", "block_size"), [("dynamic", "1M"), ("dynamic", "32M"), ("fixed", "1M")])
def test_vhdx_rollback_writes_only_changed_chunks_and_equals_a_full_restore(tmp_path, subformat, block_size):
    repo, source = back_up(tmp_path, subformat, block_size)
    restore(repo, "vm1", str(tmp_path / "live"))
    live = tmp_path / "live" / "os.vhdx"
    before = independent_view(live)
    # the guest changed one data chunk, wrote into an unallocated one, and zeroed another
    qemu_io(live, "write -P 0xab 1M 64k", "write -P 0xcd 30M 4k", "write -z 21M 1M")

    result = restore(repo, "vm1", str(tmp_path / "live"), rollback=True)

    counts = result["outputs"][0]["rollback"]
    assert counts["chunks_written"] == 3 and counts["bytes_written"] == 3 * MiB
    assert counts["bytes_read"] == 2 * MiB  # two stored chunks loaded; the third is zero, written from nothing
    assert counts["chunks_unchanged"] == SIZE // MiB - 3
    if subformat == "dynamic":  # unallocated chunks of the existing file are known zero, not read
        assert counts["bytes_compared"] < SIZE
    qemu_img("compare", "-q", "-f", "vhdx", "-F", "vhdx", str(source), str(live))
    qemu_img("check", "-q", "-f", "vhdx", str(live))
    restore(repo, "vm1", str(tmp_path / "full"))
    qemu_img("compare", "-q", "-f", "vhdx", "-F", "vhdx", str(tmp_path / "full" / "os.vhdx"), str(live))
    after = independent_view(live)
    assert after["disk_id"] == before["disk_id"] and after["data_write_guid"] != before["data_write_guid"]


@pytest.mark.parametrize("block_size", ["1M", "32M"])
def test_rollback_onto_an_empty_disk_allocates_blocks_as_it_goes(tmp_path, backed_up, block_size):
    """Every block of an empty dynamic disk is unallocated: each data chunk gets a new block (or lands in the one
    an earlier chunk of the same block got), and the BAT names them when the rollback ends."""
    repo, source = backed_up
    live = tmp_path / "live" / "os.vhdx"
    live.parent.mkdir()
    qemu_img("create", "-q", "-f", "vhdx", "-o", f"block_size={block_size}", str(live), str(SIZE))
    result = restore(repo, "vm1", str(tmp_path / "live"), rollback=True)
    assert result["outputs"][0]["rollback"]["chunks_written"] == 7  # the chunks of the two data runs
    assert result["outputs"][0]["rollback"]["bytes_compared"] == 0
    qemu_img("check", "-q", "-f", "vhdx", str(live))
    qemu_img("compare", "-q", "-f", "vhdx", "-F", "vhdx", str(source), str(live))


def test_rollback_of_an_unchanged_disk_writes_nothing(tmp_path, backed_up):
    repo, _source = backed_up
    restore(repo, "vm1", str(tmp_path / "live"))
    live = tmp_path / "live" / "os.vhdx"
    untouched = file_state(live)
    result = restore(repo, "vm1", str(tmp_path / "live"), rollback=True)
    assert result["outputs"][0]["rollback"]["bytes_written"] == 0
    assert file_state(live) == untouched  # not even the header: no change, no new write GUIDs


def test_raw_rollback_is_byte_identical_to_a_full_restore(tmp_path, backed_up):
    repo, _source = backed_up
    restore(repo, "vm1", str(tmp_path / "live"), format="raw")
    live = tmp_path / "live" / "os.raw"
    with open(live, "r+b") as handle:
        handle.seek(2 * MiB)
        handle.write(b"\x01" * 4096)
        handle.seek(35 * MiB)
        handle.write(b"\x02" * 512)
    result = restore(repo, "vm1", str(tmp_path / "live"), format="raw", rollback=True)
    assert result["outputs"][0]["rollback"]["chunks_written"] == 2
    restore(repo, "vm1", str(tmp_path / "full"), format="raw")
    assert filecmp.cmp(live, tmp_path / "full" / "os.raw", shallow=False)


@pytest.mark.parametrize("existing", ["other size", "other format"])
def test_rollback_refuses_another_size_or_format_before_writing(tmp_path, backed_up, existing):
    repo, _source = backed_up
    live = tmp_path / "live" / "os.vhdx"
    live.parent.mkdir()
    if existing == "other size":
        qemu_img("create", "-q", "-f", "vhdx", str(live), str(SIZE + MiB))
    else:
        live.write_bytes(b"\x07" * SIZE)  # a raw image named .vhdx
    untouched = hashlib.sha256(live.read_bytes()).hexdigest()
    for check_mode in (True, False):  # check mode fails as the real run would
        with pytest.raises(DataMoverError, match=r"rollback refused: disk os\.vhdx: "):
            restore(repo, "vm1", str(tmp_path / "live"), rollback=True, check_mode=check_mode)
    assert hashlib.sha256(live.read_bytes()).hexdigest() == untouched


def test_command_line_rollback(tmp_path, backed_up):
    repo, source = backed_up
    restore(repo, "vm1", str(tmp_path / "live"))
    live = tmp_path / "live" / "os.vhdx"
    qemu_io(live, "write -P 0x11 0 4k")
    out, err = io.StringIO(), io.StringIO()
    argv = ["restore", str(repo), str(tmp_path / "live"), "--vm", "vm1", "--rollback", "--json"]
    assert cli.main(argv, environ={}, stdout=out, stderr=err) == 0, err.getvalue()
    assert '"chunks_written": 1' in out.getvalue()
    qemu_img("compare", "-q", "-f", "vhdx", "-F", "vhdx", str(source), str(live))


def test_job_entries_take_rollback_as_a_bool():
    entry = {"vm": "vm1", "destination": "/restore"}
    assert parse_job("restore", [dict(entry, rollback=True)])[0].rollback is True
    assert parse_job("restore", [entry])[0].rollback is False
    with pytest.raises(DataMoverError, match="rollback bools"):
        parse_job("restore", [dict(entry, rollback="yes")])


def test_rollback_is_not_combined_with_salvage(tmp_path, backed_up):
    repo, _source = backed_up
    restore(repo, "vm1", str(tmp_path / "live"))
    with pytest.raises(DataMoverError, match="rollback and salvage cannot be combined"):
        restore(repo, "vm1", str(tmp_path / "live"), rollback=True, salvage=True)


@pytest.mark.parametrize("existing", ["other size", "other format"])
def test_rollback_with_overwrite_restores_a_mismatched_disk_in_full(tmp_path, backed_up, existing):
    """overwrite lets a disk that cannot be rolled back be restored in full over it, named in its output."""
    repo, source = backed_up
    live = tmp_path / "live" / "os.vhdx"
    live.parent.mkdir()
    if existing == "other size":
        qemu_img("create", "-q", "-f", "vhdx", str(live), str(SIZE + MiB))
    else:
        live.write_bytes(b"\x07" * SIZE)
    planned = restore(repo, "vm1", str(tmp_path / "live"), rollback=True, overwrite=True, check_mode=True)
    assert "rollback refused" not in str(planned)
    result = restore(repo, "vm1", str(tmp_path / "live"), rollback=True, overwrite=True)
    output = result["outputs"][0]
    assert "rollback" not in output and str(live) in output["full_restore"], output
    qemu_img("compare", "-q", "-f", "vhdx", "-F", "vhdx", str(source), str(live))
