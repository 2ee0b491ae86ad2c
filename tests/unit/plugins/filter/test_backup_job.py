from __future__ import annotations

from ansible_collections.backup.hyperv.plugins.filter.backup_job import (
    backup_checkpoints,
    backup_groups_failed,
    backup_job_entries,
    backup_rct_misses,
    backup_ready_vms,
    backup_release,
    backup_release_left,
    backup_release_moved,
    backup_since,
    backup_summary,
    backup_vm_results,
)

FOLDER = "C:\\ClusterStorage\\Volume1\\web"
SHADOW = "C:\\ProgramData\\backup.hyperv\\shadow\\set\\Vol1\\web"

QUIESCE = "the application-consistent checkpoint failed: Production checkpoints cannot be created for 'web'."
CHECKPOINT = {
    "changed": True,
    "vms": {
        "web": {
            "failed": False,
            "checkpoint": "Microsoft:CP-1",
            "consistency": "crash",
            "consistency_msg": QUIESCE,
            "disks": [
                {
                    "path": f"{FOLDER}\\web.vhdx",
                    "name": "web.vhdx",
                    "size": 4096,
                    "since": "rct:1",
                    "ranges": [[0, 512]],
                    "reason": None,
                }
            ],
        },
        "db": {"failed": True, "msg": "CreateSnapshot returned 32775 (invalid state)", "checkpoint": None, "disks": []},
    },
}
# after the checkpoint the VM runs on a recovery layer whose parent is the frozen disk
VOLUME = "C:\\ClusterStorage\\Volume1\\"
VM_FILES = {
    "web": [
        {
            "source": f"{FOLDER}\\web_0A1B.avhdx",
            "volume": VOLUME,
            "path": f"{SHADOW}\\web_0A1B.avhdx",
            "parents": [{"source": f"{FOLDER}\\WEB.VHDX", "volume": VOLUME, "path": f"{SHADOW}\\web.vhdx"}],
        },
        {"source": f"{FOLDER}\\web.vmcx", "volume": VOLUME, "path": f"{SHADOW}\\web.vmcx", "parents": []},
    ]
}
REFERENCE = {"vms": {"web": {"failed": False, "reference_point": "RP-2", "change_ids": {"web.vhdx": "rct:2"}}}}


def test_since_comes_from_the_repository_baselines_of_the_group():
    baselines = {
        "baselines": {
            "web": {"disks": {"web.vhdx": {"change_id": "rct:1", "size": 4096}, "old.vhdx": {"change_id": None}}}
        }
    }
    assert backup_since(baselines, ["web", "db"]) == {"web": {"web.vhdx": "rct:1"}}
    assert backup_since({"skipped": True}, ["web"]) == {}


def test_a_vm_whose_checkpoint_failed_goes_no_further():
    assert backup_ready_vms(["web", "db"], CHECKPOINT) == ["web"]
    assert backup_checkpoints(CHECKPOINT) == {"web": "Microsoft:CP-1"}


def test_entries_read_the_frozen_disk_not_the_recovery_layer():
    (entry,) = backup_job_entries(["web"], CHECKPOINT, VM_FILES, REFERENCE)
    assert entry["sources"] == [f"{SHADOW}\\web.vhdx", f"{SHADOW}\\web.vmcx"]
    assert entry["changed_ranges"] == {
        "web.vhdx": {"since": "rct:1", "ranges": [[0, 512]], "reason": None, "audit": False}
    }
    assert entry["change_ids"] == {"web.vhdx": "rct:2"}
    assert "parents" not in entry  # the frozen disk has no parent: nothing to name
    (audited,) = backup_job_entries(["web"], CHECKPOINT, VM_FILES, REFERENCE, True)
    assert audited["changed_ranges"]["web.vhdx"]["audit"] is True


def test_a_frozen_disk_whose_parent_is_on_another_volume_names_its_parents_where_they_are_read():
    golden = {"source": "C:\\ClusterStorage\\Volume2\\gold\\gold.vhdx", "volume": "C:\\ClusterStorage\\Volume2\\"}
    golden["path"] = "C:\\ProgramData\\backup.hyperv\\shadow\\set\\Vol2\\gold\\gold.vhdx"
    layer, config = VM_FILES["web"]
    scattered = {"web": [{**layer, "parents": [*layer["parents"], golden]}, config]}
    (entry,) = backup_job_entries(["web"], CHECKPOINT, scattered, REFERENCE)
    assert entry["sources"] == [f"{SHADOW}\\web.vhdx", f"{SHADOW}\\web.vmcx"]
    assert entry["parents"] == {f"{SHADOW}\\web.vhdx": [golden["path"]]}  # below the frozen disk, not the layer
    same_volume = {"web": [{**layer, "parents": [*layer["parents"], {**golden, "volume": VOLUME}]}, config]}
    assert "parents" not in backup_job_entries(["web"], CHECKPOINT, same_volume, REFERENCE)[0]  # the locator finds it


def test_rct_misses_name_each_audited_disk_with_changes_the_host_left_out():
    records = [
        {"vm": "hv1/web", "incremental": {"web.vhdx": {"rct_audit": {"chunks_missed": 3}}, "d.vhdx": {"mode": "full"}}},
        {"vm": "hv1/db", "failed": True, "msg": "x"},
    ]
    assert backup_rct_misses(records) == ["hv1/web web.vhdx: 3 chunk(s)"]


def test_entries_without_a_reference_record_no_change_ids():
    (entry,) = backup_job_entries(["web"], CHECKPOINT, VM_FILES, {"skipped": True})
    assert entry["change_ids"] == {}


def test_release_keeps_the_new_point_of_a_stored_vm_and_drops_that_of_a_failed_one():
    stored = {"results": [{"vm": "web", "failed": False, "restore_point": "p1"}]}
    assert backup_release(CHECKPOINT, REFERENCE, stored) == {"web": {"checkpoint": None, "keep": "RP-2", "drop": None}}
    failed = {"results": [{"vm": "web", "failed": True, "msg": "boom"}]}
    assert backup_release(CHECKPOINT, REFERENCE, failed) == {"web": {"checkpoint": None, "keep": None, "drop": "RP-2"}}


def test_release_destroys_a_checkpoint_never_converted():
    assert backup_release(CHECKPOINT, {}, {}) == {"web": {"checkpoint": "Microsoft:CP-1", "keep": None, "drop": None}}


def test_results_name_each_vm_and_why_it_failed():
    mover = {
        "results": [
            {
                "vm": "web",
                "failed": False,
                "restore_point": "p1",
                "stats": {"bytes_read": 512},
                "incremental": {"web.vhdx": {"mode": "changed_ranges"}},
            }
        ]
    }
    records = backup_vm_results(["web", "db", "gone"], "hv1", "px1", CHECKPOINT, mover, "shadow copy: failed")
    assert records[0] == {
        "vm": "hv1/web",
        "proxy": "px1",
        "failed": False,
        "restore_point": "p1",
        "stats": {"bytes_read": 512},
        "incremental": {"web.vhdx": {"mode": "changed_ranges"}},
        "consistency": "crash",
        "consistency_msg": QUIESCE,
    }
    assert records[1]["msg"].startswith("checkpoint: CreateSnapshot returned 32775")
    assert records[2] == {"vm": "hv1/gone", "proxy": "px1", "failed": True, "msg": "shadow copy: failed"}
    assert (
        "1 VM(s) stored, 2 failed; crash consistent (the guest could not quiesce): hv1/web; "
        "1 disk(s) read by RCT changed ranges; read 512 B"
    ) in backup_summary(records, 1)
    application = {**records[0], "consistency": "application"}
    assert "1 VM(s) stored, 0 failed; 1 disk(s) read by RCT" in backup_summary([application], 1)


def test_in_check_mode_a_vm_nothing_refused_has_not_failed():
    records = backup_vm_results(["web", "db"], "hv1", "px1", CHECKPOINT, {}, None, True)
    assert records[0] == {
        "vm": "hv1/web",
        "proxy": "px1",
        "failed": False,
        "restore_point": None,
        "stats": {},
        "incremental": {},
        "consistency": "crash",
        "consistency_msg": QUIESCE,
    }
    assert records[1]["failed"] is True  # its checkpoint was refused, check mode or not


def test_a_vm_the_shadow_copy_left_out_fails_with_its_reason_and_the_others_are_stored():
    refused = {"db": "files the VMs need cannot be read on their host, nothing was created: db: x.vmrs (denied)."}
    checkpoint = {"vms": {"web": CHECKPOINT["vms"]["web"], "db": {"failed": False, "checkpoint": "Microsoft:CP-2"}}}
    mover = {"results": [{"vm": "web", "failed": False, "restore_point": "p1"}]}
    records = backup_vm_results(["web", "db"], "hv1", "px1", checkpoint, mover, "a later step failed", False, refused)
    assert [r["failed"] for r in records] == [False, True]
    assert records[1]["msg"] == f"shadow copy: {refused['db']}"  # its own reason, not the group's
    assert backup_release(checkpoint, {}, mover)["db"] == {"checkpoint": "Microsoft:CP-2", "keep": None, "drop": None}


def test_every_vm_of_the_groups_of_a_proxy_that_could_not_read_the_repository_is_a_failed_record():
    groups = [{"host": "hv1", "vms": ["vm1", "vm3"]}, {"host": "hv2", "vms": ["vm2"]}]
    records = backup_groups_failed(groups, "px1", "the repository could not be read: wrong passphrase")
    assert records == [
        {
            "vm": f"{host}/{vm}",
            "proxy": "px1",
            "failed": True,
            "msg": "the repository could not be read: wrong passphrase",
        }
        for host, vm in (("hv1", "vm1"), ("hv1", "vm3"), ("hv2", "vm2"))
    ]


def test_a_vm_its_source_host_no_longer_holds_is_released_on_the_other_hosts_and_named_when_none_holds_it():
    release = {"web": {"checkpoint": "Microsoft:CP-1", "keep": None, "drop": None}, "db": {"keep": "RP-9"}}
    host_release = {"change_tracking": {"released": {}, "not_on_host": ["web"]}, "shadow_copy": {}}
    moved = backup_release_moved(release, host_release)
    assert moved == {"web": release["web"]}
    assert backup_release_moved(release, {"failed": True, "msg": "x"}) == {}  # a failed release says nothing
    assert backup_release_moved(release, {"skipped": True}) == {}
    gone = {"released": {"web": {"checkpoints": [], "reference_points": []}}, "not_on_host": ["web"]}
    held = {"released": {"web": {"checkpoints": ["Microsoft:CP-1"], "reference_points": []}}, "not_on_host": []}
    assert backup_release_left(moved, {"results": [gone, held]}) == []
    unreachable = {"results": [gone, {"failed": True, "msg": "unreachable"}]}
    (left,) = backup_release_left(moved, unreachable)
    assert left.startswith("web was on none of the run's source hosts when its release ran")
    assert "Get-VMSnapshot -VMName 'web' -SnapshotType Recovery | Remove-VMSnapshot" in left
    assert backup_release_left({}, {}) == []
