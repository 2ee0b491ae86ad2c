"""Changed ranges with their RCT baseline (issue 12): ``{since, ranges, reason}``, ``change_ids``, ``baselines``.

The rule under test: ranges that say where they start (``since``) are used only when the VM's latest restore
point recorded exactly that RCT id for the disk; otherwise the disk is read in full and the reason says why.
"""

from __future__ import annotations

import io
import json

import pytest
import runs
from datamover_fakes import write_at
from qemu import convert_to_vhdx, make_raw, raw_of

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.streams import Baseline
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import DiskChanges
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import baseline_summary

MiB = 1 << 20
DISK = "disk0.raw"


def _restored(tmp_path, repo, name: str) -> bytes:
    runs.restore(repo, "vm1", str(tmp_path / name), format="raw")
    return (tmp_path / name / DISK).read_bytes()


def test_ranges_from_a_later_reference_point_than_the_baseline_give_a_full_read(tmp_path, disk24, fake_disks):
    """The repository's latest point recorded X; Hyper-V moved on to Y (a backup that failed after the
    reference point was made) and the disk changed before and after Y. Ranges since Y miss the change before
    Y: used on baseline X they would restore a disk that never existed. They must give a full read."""
    repo = str(tmp_path / "repo")
    point_x = fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:X"})["restore_point"]
    write_at(disk24, 3 * MiB, b"before Y" * 1000)  # changed between X and Y: not in the ranges since Y
    write_at(disk24, 17 * MiB, b"after Y" * 1000)
    since_y = {str(disk24): {"since": "rct:Y", "ranges": [[17 * MiB, 7000]], "reason": None}}
    fake_disks.bytes_read_total = 0
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=since_y, change_ids={DISK: "rct:Z"})
    info = result["incremental"][DISK]
    assert info["mode"] == "full" and info["baseline"] is None
    assert info["fallback_reason"] == fallbacks.other_baseline(point_x, "vm1", DISK, "rct:X", "rct:Y")
    assert fake_disks.bytes_read_total > 10 * MiB  # every allocated chunk, not the one the ranges name
    assert _restored(tmp_path, repo, "out") == disk24.read_bytes()


def test_ranges_since_an_older_id_than_the_latest_point_recorded_give_a_full_read(tmp_path, disk24, fake_disks):
    """A recorded X, then B recorded Y: ranges since X (not Y) are refused, and the restore is exact."""
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:X"})
    write_at(disk24, 5 * MiB, b"one" * 5000)
    point_b = fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:Y"})["restore_point"]
    write_at(disk24, 9 * MiB, b"two" * 5000)
    since_x = {DISK: {"since": "rct:X", "ranges": [[5 * MiB, 15000], [9 * MiB, 15000]]}}
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=since_x)
    info = result["incremental"][DISK]
    assert info == {
        "mode": "full",
        "baseline": None,
        "change_id": None,
        "fallback_reason": f"the latest restore point {point_b} of vm1 recorded RCT id rct:Y for {DISK}, "
        "the ranges start at rct:X",
    }
    assert _restored(tmp_path, repo, "out") == disk24.read_bytes()


def test_ranges_since_the_recorded_id_are_used_and_the_new_id_is_recorded(tmp_path, disk24, fake_disks):
    repo = str(tmp_path / "repo")
    first = fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={str(disk24): "rct:X"})
    assert first["disks"][0]["change_id"] == "rct:X" == first["incremental"][DISK]["change_id"]
    write_at(disk24, 11 * MiB + 5, b"new" * 100)
    since_x = {str(disk24): {"since": "rct:X", "ranges": [[11 * MiB + 5, 300]], "reason": None}}
    fake_disks.bytes_read_total = 0
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=since_x, change_ids={DISK: "rct:Y"})
    assert result["incremental"][DISK] == {
        "mode": "changed_ranges",
        "baseline": first["restore_point"],
        "change_id": "rct:Y",
        "partial_chunks": 1,
        "patched_chunks": 1,
    }
    assert fake_disks.bytes_read_total == 4096 and result["disks"][0]["change_id"] == "rct:Y"  # the range's sector
    assert _restored(tmp_path, repo, "out") == disk24.read_bytes()


def test_a_range_that_starts_past_the_disk_gives_a_full_read_one_that_ends_past_it_is_clipped(
    tmp_path, disk24, fake_disks
):
    """Windows answers within the disk asked about: a range starting at its end belongs to another disk (or size),
    and the ranges around it cannot be trusted to hold every change; a range that only ends past it is a tracking
    block rounded out over the end."""
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:X"})
    write_at(disk24, 7 * MiB, b"changed" * 100)
    write_at(disk24, 24 * MiB - 512, b"tail" * 128)
    size = 24 * MiB
    outside = {DISK: {"since": "rct:X", "ranges": [[7 * MiB, 700], [size, 4096]]}}
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=outside, change_ids={DISK: "rct:Y"})
    info = result["incremental"][DISK]
    assert info["mode"] == "full" and info["fallback_reason"] == fallbacks.range_past_the_end(size, size)
    assert _restored(tmp_path, repo, "full") == disk24.read_bytes()
    write_at(disk24, 24 * MiB - 1024, b"end!" * 64)
    rounded = {DISK: {"since": "rct:Y", "ranges": [[24 * MiB - 1024, 2 * MiB]]}}  # ends 2 MiB past the disk
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=rounded)
    assert result["incremental"][DISK]["mode"] == "changed_ranges"
    assert _restored(tmp_path, repo, "clipped") == disk24.read_bytes()


def test_a_baseline_without_a_recorded_id_refuses_ranges_that_name_one(tmp_path, disk24, fake_disks):
    repo = str(tmp_path / "repo")
    point = fake_disks.backup(repo, "vm1", [str(disk24)])["restore_point"]  # no change_ids: null recorded
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges={DISK: {"since": "rct:X", "ranges": []}})
    reason = result["incremental"][DISK]["fallback_reason"]
    assert reason == f"the latest restore point {point} of vm1 recorded no RCT id for {DISK}, the ranges start at rct:X"


def test_ranges_null_read_in_full_and_record_the_reason_given(tmp_path, disk24, fake_disks):
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:X"})
    given = "the host does not know RCT id rct:X for this disk (moved, storage-migrated, resized...): 32779"
    changes = {DISK: {"since": "rct:X", "ranges": None, "reason": given}}
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=changes)
    assert result["incremental"][DISK]["mode"] == "full"
    assert result["incremental"][DISK]["fallback_reason"] == given
    bare = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges={DISK: {"ranges": None}})
    assert bare["incremental"][DISK]["fallback_reason"] == fallbacks.NO_RANGES


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": {"since": "x", "ranges": [], "extra": 1}}, "unknown key"),
        ({"a": {"since": 5, "ranges": []}}, "since and reason"),
        ({"a": {"ranges": "0-5"}}, "not a list"),
        ({"a": {"ranges": [[0, 0]]}}, "length > 0"),
    ],
)
def test_the_mapping_form_is_checked(value, message):
    with pytest.raises(DataMoverError, match=f"changed_ranges for a: .*{message}"):
        runs.options("backup", "/r", vm="v", source=["/d/a"], changed_ranges=value)


def test_change_ids_must_name_a_source_and_be_text():
    entry = {"vm": "v", "sources": ["/d/a.vhdx"], "change_ids": {"/d/b.vhdx": "rct:1"}}
    with pytest.raises(DataMoverError, match=r"change_ids names /d/b\.vhdx, which is not one of the sources"):
        runs.run("backup", "/nonexistent/repo", jobs=[entry])
    with pytest.raises(DataMoverError, match="change_ids must map"):
        runs.options("backup", "/r", vm="v", source=["/d/a.vhdx"], change_ids={"a.vhdx": 7})


def test_the_options_document_carries_the_mapping_form_change_ids_and_slots():
    entry = {
        "vm": "a",
        "sources": ["C:/d/a.vhdx"],
        "changed_ranges": {"a.vhdx": {"since": "rct:1", "ranges": [[0, 512]], "reason": None}},
        "change_ids": {"a.vhdx": "rct:2"},
    }
    options = runs.options("backup", "/r", jobs=[entry], slots=3)
    document = options.to_json()
    assert json.loads(document)["slots"] == 3 and DataMoverOptions.from_json(document) == options
    backup = options.backups[0]
    assert backup.changed_ranges == {"a.vhdx": DiskChanges(((0, 512),), "rct:1")}
    assert backup.change_ids == {"a.vhdx": "rct:2"}


def test_the_command_line_builds_slots_and_baselines_as_the_module_does():
    args = cli.build_parser().parse_args(["backup", "/r", "--job", "j.json", "--slots", "3"])
    job = [{"vm": "a", "sources": ["/d/a.vhdx"]}]
    assert DataMoverOptions.from_args(args, None, None, job) == runs.options("backup", "/r", jobs=job, slots=3)
    args = cli.build_parser().parse_args(["baselines", "/r", "--vm", "a", "--vm", "b"])
    expected = runs.options("baselines", "/r", vms=["a", "b"])
    assert DataMoverOptions.from_args(args, None, None, None) == expected and expected.vms == ("a", "b")
    assert DataMoverOptions.from_json(expected.to_json()) == expected
    with pytest.raises(DataMoverError, match="vms names the VMs of operation baselines"):
        runs.options("list", "/r", vms=["a"])


def test_a_schema_1_document_still_reads():
    document = {"schema": 1, "operation": "backup", "repository": "/r", "vm": "a", "source": ["/d/a.vhdx"]}
    options = DataMoverOptions.from_json(json.dumps(dict(document, changed_ranges={"a.vhdx": [[0, 1]]})))
    assert options.backups[0].changed_ranges == {"a.vhdx": DiskChanges(((0, 1),))} and options.slots == 1


@pytest.mark.parametrize("slots", [0, -1, "2", True])
def test_slots_is_a_whole_number_from_one(slots):
    with pytest.raises(DataMoverError, match="slots must be a whole number from 1"):
        runs.options("backup", "/r", vm="v", source=["/d/a"], slots=slots)


def test_baselines_name_each_vms_latest_point_and_its_ids(tmp_path, disk24, fake_disks):
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:1"})
    latest = fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:2"})
    other = fake_disks.backup(repo, "vm2", [str(disk24)])
    reply = runs.run("baselines", repo, vms=["vm1", "ghost"])
    assert reply["changed"] is False
    point = runs.points(repo, "vm1")["vms"]["vm1"][-1]
    assert reply["baselines"] == {
        "ghost": {"restore_point": None, "time": None, "disks": {}},
        "vm1": {
            "restore_point": latest["restore_point"],
            "time": point["time"],
            "disks": {DISK: {"change_id": "rct:2", "size": 24 * MiB}},
        },
    }
    every = runs.run("baselines", repo)["baselines"]
    assert sorted(every) == ["vm1", "vm2"] and every["vm2"]["restore_point"] == other["restore_point"]
    assert every["vm2"]["disks"][DISK]["change_id"] is None


def test_baselines_take_no_lock_and_answer_before_the_first_backup(tmp_path, disk24, fake_disks):
    repo = tmp_path / "repo"
    missing = runs.run("baselines", repo, vms=["vm1"])
    assert missing["baselines"] == {"vm1": {"restore_point": None, "time": None, "disks": {}}}
    assert not repo.exists()
    fake_disks.backup(str(repo), "vm1", [str(disk24)], passphrase="pw", change_ids={DISK: "rct:1"})
    with runs.open_session(repo, passphrase="pw"):  # a backup holds the exclusive lock
        reply = runs.run("baselines", repo, vms=["vm1"], passphrase="pw")
    assert reply["baselines"]["vm1"]["disks"][DISK]["change_id"] == "rct:1"


def test_a_restore_point_older_than_change_ids_reads_as_null():
    old = {"id": "p1", "vm": "vm1", "time": "t", "disks": [{"name": DISK, "virtual_size": 4, "stream": 0}]}
    assert baseline_summary(old)["disks"] == {DISK: {"change_id": None, "size": 4}}
    assert Baseline.of(old, [object()]).change_ids == {DISK: None}


def _cli(*argv: str) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), environ={}, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_the_command_line_takes_the_mapping_form_and_change_ids_and_runs_baselines(tmp_path, disk24):
    repo = str(tmp_path / "repo")
    ids, ranges = tmp_path / "ids.json", tmp_path / "ranges.json"
    ids.write_text(json.dumps({DISK: "rct:1"}))
    status, _out, err = _cli("backup", repo, str(disk24), "--vm", "vm1", "--change-ids", str(ids))
    assert status == 0, err
    ranges.write_text(json.dumps({DISK: {"since": "rct:1", "ranges": [[0, 10]], "reason": None}}))
    status, out, err = _cli("backup", repo, str(disk24), "--vm", "vm1", "--changed-ranges", str(ranges), "--json")
    assert status == 0 and json.loads(out)["incremental"][DISK]["mode"] == "changed_ranges", err
    status, out, err = _cli("baselines", repo, "--vm", "vm1", "--vm", "vm2", "--json")
    reply = json.loads(out)["baselines"]
    assert status == 0 and reply["vm2"]["restore_point"] is None, err
    assert reply["vm1"]["disks"][DISK]["change_id"] is None  # the second backup was given no change ids


def _damage_record(repo: str, point_id: str) -> None:
    """Flip the record's last byte (its envelope's digest no longer matches)."""
    with open(f"{repo}/points/{point_id}.point", "r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)[0]
        handle.seek(-1, 2)
        handle.write(bytes([last ^ 0xFF]))


def test_a_damaged_newest_record_stops_no_backup_the_baseline_is_the_newest_readable_point(
    tmp_path, disk24, fake_disks
):
    """vm1's newest record (Y) is damaged. Its next backup is not refused: baselines and the data mover both
    take X, the newest point they can read, and ranges asked since X's own RCT id describe the change from X,
    whoever the damaged point belonged to; the restore is exact. Another VM's backup is not stopped either."""
    repo = str(tmp_path / "repo")
    point_x = fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:X"})["restore_point"]
    write_at(disk24, 5 * MiB, b"between" * 1000)
    point_y = fake_disks.backup(repo, "vm1", [str(disk24)], change_ids={DISK: "rct:Y"})["restore_point"]
    _damage_record(repo, point_y)
    reply = runs.run("baselines", repo, vms=["vm1", "vm2"])
    assert reply["baselines"]["vm1"]["restore_point"] == point_x and reply["baselines"]["vm2"]["restore_point"] is None
    assert [entry["id"] for entry in reply["damaged"]] == [point_y]
    write_at(disk24, 9 * MiB, b"after" * 1000)
    since_x = {DISK: {"since": "rct:X", "ranges": [[5 * MiB, 7000], [9 * MiB, 5000]], "reason": None}}
    result = fake_disks.backup(repo, "vm1", [str(disk24)], changed_ranges=since_x, change_ids={DISK: "rct:Z"})
    assert result["incremental"][DISK]["mode"] == "changed_ranges"
    assert result["incremental"][DISK]["baseline"] == point_x
    assert _restored(tmp_path, repo, "out") == disk24.read_bytes()


def test_ranges_for_a_disk_whose_virtual_disk_id_changed_give_a_full_read(tmp_path):
    """Another VHDX at the disk's path (same name, same size, a new VirtualDiskId, MS-VHDX 2.6.2.3): ranges, even
    in the list form that is trusted as given, cannot describe it against the previous restore point's chunks."""
    repo, raw, disk = str(tmp_path / "repo"), tmp_path / "a.raw", tmp_path / "d.vhdx"
    make_raw(raw, 8 * MiB, [(0, 2 * MiB, "data")])
    convert_to_vhdx(raw, disk)
    first = runs.backup(repo, "vm1", [str(disk)])
    recorded = first["disks"][0]["disk_id"]
    disk.unlink()
    make_raw(raw, 8 * MiB, [(0, 2 * MiB, "data"), (5 * MiB, 4096, "data")])
    convert_to_vhdx(raw, disk)  # a new file: qemu-img gives it a new virtual disk id
    result = runs.backup(repo, "vm1", [str(disk)], changed_ranges={"d.vhdx": [[5 * MiB, 4096]]})
    now = result["disks"][0]["disk_id"]
    assert recorded and now and recorded != now
    assert result["incremental"]["d.vhdx"]["mode"] == "full"
    assert result["incremental"]["d.vhdx"]["fallback_reason"] == fallbacks.other_disk(recorded, now)
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["d.raw"]
    assert (tmp_path / "out" / "d.raw").read_bytes() == raw_of(disk)


def test_a_legacy_vhd_given_changed_ranges_is_read_whole_and_says_why(tmp_path):
    """A .vhd is kept as a file (the reader parses VHDX only): the reason the host gave for it (or the data mover's
    own) is in the restore point's incremental entry, as for a disk; a file given nothing has no entry."""
    repo, vhd, config = str(tmp_path / "repo"), tmp_path / "old.vhd", tmp_path / "vm.vmcx"
    vhd.write_bytes(b"conectix" + bytes(4096))
    config.write_bytes(b"<configuration/>")
    given = "VHD disk: resilient change tracking needs VHDX"
    changes = {"old.vhd": {"since": None, "ranges": None, "reason": given}}
    result = runs.backup(repo, "vm1", [str(vhd), str(config)], changed_ranges=changes)
    assert result["incremental"] == {
        "old.vhd": {"mode": "full", "baseline": None, "change_id": None, "fallback_reason": given}
    }
    listed = runs.backup(repo, "vm1", [str(vhd), str(config)], changed_ranges={"old.vhd": [[0, 512]]})
    assert listed["incremental"]["old.vhd"]["fallback_reason"] == fallbacks.NOT_A_DISK
    runs.restore(repo, "vm1", str(tmp_path / "out"))
    assert (tmp_path / "out" / "old.vhd").read_bytes() == vhd.read_bytes()


def test_two_disks_of_one_file_name_are_refused_naming_both_and_what_to_do(tmp_path):
    """Hyper-V lets a VM have two disks of one name in two folders (its default "New Virtual Hard Disk.vhdx"); a
    restore point names files by name, so the VM is refused before anything is written, saying how to fix it."""
    first, second = (
        tmp_path / "Volume1" / "New Virtual Hard Disk.vhdx",
        tmp_path / "Volume2" / "New Virtual Hard Disk.vhdx",
    )
    for disk in (first, second):
        disk.parent.mkdir()
        make_raw(tmp_path / "x.raw", 4 * MiB, [(0, MiB, "data")])
        convert_to_vhdx(tmp_path / "x.raw", disk)
    shared = r"two sources share the file name 'New Virtual Hard Disk\.vhdx'"
    with pytest.raises(DataMoverError, match=shared) as refused:
        runs.backup(str(tmp_path / "repo"), "vm7", [str(first), str(second)])
    assert str(first) in str(refused.value) and str(second) in str(refused.value)
    assert "Set-VMHardDiskDrive -Path" in str(refused.value) and not (tmp_path / "repo").exists()
