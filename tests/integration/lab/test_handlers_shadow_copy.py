"""The shadow copy handlers in-process on the healthy estate: a transportable set of the CSV taken on
hv1, imported and exposed on px1, is a point-in-time read-only view of the VM files; release removes it."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab, ansible_adhoc, estate_lab

# isort: split
from lab.collection import run_collection_request
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure, shadow_copy
from lab.windows import diskshadow
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState, read_counters
from lab.windows.storage import local_path
from lab.windows.vmdisk import break_link

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import build_request

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
VM1_DISK = "C:\\ClusterStorage\\Volume1\\vm1\\vm1.vhdx"
VM3_DISK = "\\\\fs1\\vms\\vm3\\vm3.vhdx"


@pytest.fixture
def healthy(tmp_path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path)


def change_after_the_snapshot(path: Path) -> None:
    """Write as the lab's writers do: the shadow copy's hard link is broken first (lab.windows.vmdisk)."""
    break_link(path)
    with open(path, "r+b") as stream:
        stream.write(b"changed after the snapshot")


def create(lab: ProvisionedLab, host: str = "hv1") -> dict:
    volumes = [{"Path": "C:\\ClusterStorage\\Volume1\\", "Alias": "Vol1"}]
    return lab.call(
        host, "shadow_copy_create", {"Volumes": volumes, "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600}
    )


def create_share_set(lab: ProvisionedLab) -> dict:
    """hv1's set of the share \\\\fs1\\vms (VSS for SMB File Shares: not transportable)."""
    volumes = [{"Path": "\\\\fs1\\vms\\", "Alias": "Vol1"}]
    return lab.call(
        "hv1",
        "shadow_copy_create",
        {"Volumes": volumes, "MetadataDir": ROOT, "Transportable": False, "InProgressTimeoutSeconds": 600},
    )


def test_read_lists_the_vm_files_and_the_volumes_holding_them(healthy):
    reply = healthy.call("hv2", "shadow_copy_read", {"Vms": ["vm2"], "MetadataDir": ROOT, "ExposeRoot": ROOT})
    files = reply["vms"][0]["Files"]
    assert [(f["Kind"], f["Format"]) for f in files] == [
        ("disk", "VHDX"),
        ("disk", "VHDX"),
        *[("configuration", None)] * 3,  # .vmcx, .vmrs (running), .vmgs (generation 2)
    ]
    assert ["C:\\ClusterStorage\\Volume1\\"] in [v["MountPoints"] for v in reply["volumes"]]


def test_a_set_taken_on_the_node_is_exposed_on_the_proxy_as_it_was(healthy):
    before = healthy.host_file("hv1", VM1_DISK).read_bytes()
    made = create(healthy)
    set_id = made["SnapshotSetId"]
    assert base64.b64decode(made["Metadata"]) == healthy.host_file("hv1", made["MetadataPath"]).read_bytes()
    change_after_the_snapshot(healthy.host_file("hv1", VM1_DISK))
    folder = f"{ROOT}\\{set_id.strip('{}')}"
    expose = [{"ShadowId": made["Shadows"][0]["ShadowId"], "Path": f"{folder}\\Vol1"}]
    imported = healthy.call(
        "px1", "shadow_copy_import", {"SnapshotSetId": set_id, "Metadata": made["Metadata"], "Expose": expose}
    )
    assert imported == {"imported": True, "exposed": expose}
    assert healthy.host_file("px1", f"{folder}\\Vol1\\vm1\\vm1.vhdx").read_bytes() == before  # point in time
    read = healthy.call("px1", "shadow_copy_read", {"SnapshotSetId": set_id, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert [(s["Imported"], s["Transportable"], s["ExposedName"]) for s in read["shadows"]] == [
        (True, True, f"{folder}\\Vol1\\")
    ]
    assert read["shadows"][0]["OriginatingMachine"] == "hv1.contoso.local" and read["mount_dirs"][0]["Exists"]
    source = healthy.call("hv1", "shadow_copy_read", {"SnapshotSetId": set_id, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert (source["shadows"], source["metadata_files"][0]["Exists"]) == ([], True)  # transportable: not surfaced
    released = healthy.call(
        "px1",
        "shadow_copy_release",
        {"ExposedPaths": [expose[0]["Path"]], "ShadowIds": [expose[0]["ShadowId"]], "Directories": [folder]},
    )
    assert released == {"unexposed": 1, "deleted": 1, "removed_files": 0, "removed_directories": 1}
    gone = healthy.call("px1", "shadow_copy_read", {"SnapshotSetId": set_id, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert (gone["shadows"], gone["mount_dirs"][0]["Exists"]) == ([], False)
    assert not (healthy.state_dir / "shared" / "shadows" / set_id.strip("{}") / "Vol1").exists()


def test_a_share_set_is_a_read_only_shadow_copy_share_on_the_file_server_until_released(healthy):
    def unc(windows_path: str) -> Path:
        return local_path(healthy.estate.model, healthy.state_dir, "px1", windows_path)

    before = unc(VM3_DISK).read_bytes()
    made = create_share_set(healthy)
    shadow, set_id = made["Shadows"][0], made["SnapshotSetId"]
    assert shadow["ShadowCopyShare"] == f"\\\\fs1\\vms@{shadow['ShadowId']}"
    change_after_the_snapshot(unc(VM3_DISK))
    copied = unc(f"{shadow['ShadowCopyShare']}\\vm3\\vm3.vhdx")
    assert copied.read_bytes() == before and copied.stat().st_mode & 0o222 == 0  # point in time, read-only
    read = healthy.call("hv1", "shadow_copy_read", {"SnapshotSetId": set_id, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert [(s["ID"].lower(), s["ShadowCopyShare"], s["ExposedName"]) for s in read["shadows"]] == [
        (shadow["ShadowId"], shadow["ShadowCopyShare"], None)
    ]
    record = [f["Path"] for f in read["metadata_files"] if f["Exists"]]
    assert record == [made["MetadataPath"], f"{ROOT}\\{set_id.strip('{}')}.shares.json"]
    released = healthy.call("hv1", "shadow_copy_release", {"ShareShadowIds": [shadow["ShadowId"]], "Files": record})
    assert released["deleted"] == 1
    with pytest.raises(HostPathError, match="network path"):
        unc(f"{shadow['ShadowCopyShare']}\\vm3\\vm3.vhdx")
    gone = healthy.call("hv1", "shadow_copy_read", {"SnapshotSetId": set_id, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert gone["shadows"] == [] and not any(f["Exists"] for f in gone["metadata_files"])
    # The same release again (what the controller re-sends when the first reply was lost): the record is gone, so
    # nothing is asked of DiskShadow, which would fail on the deleted copy; without a record it is asked, and fails.
    again = healthy.call("hv1", "shadow_copy_release", {"ShareShadowIds": [shadow["ShadowId"]], "Files": record})
    assert again == {"unexposed": 0, "deleted": 0, "removed_files": 0, "removed_directories": 0}
    with pytest.raises(ScriptFailure, match="was not found"):
        healthy.call("hv1", "shadow_copy_release", {"ShareShadowIds": [shadow["ShadowId"]]})


def test_a_share_release_cut_short_deletes_only_the_copies_its_record_still_lists(healthy):
    made = create_share_set(healthy)
    shadow_id, set_id = made["Shadows"][0]["ShadowId"], made["SnapshotSetId"]
    record = f"{ROOT}\\{set_id.strip('{}')}.shares.json"
    # A first release deleted the copy and took it out of the record, then was cut short before the files went.
    healthy.call("hv1", "shadow_copy_release", {"ShareShadowIds": [shadow_id]})
    local = local_path(healthy.estate.model, healthy.state_dir, "hv1", record)
    local.write_text("[]", encoding="utf-8")
    again = healthy.call("hv1", "shadow_copy_release", {"ShareShadowIds": [shadow_id], "Files": [record]})
    assert (again["deleted"], again["removed_files"], local.exists()) == (0, 1, False)


def test_a_share_no_estate_host_serves_is_refused(healthy):
    volumes = [{"Path": "\\\\nas9\\vms\\", "Alias": "Vol1"}]
    with pytest.raises(ScriptFailure, match="not a valid volume"):
        healthy.call(
            "hv1",
            "shadow_copy_create",
            {"Volumes": volumes, "MetadataDir": ROOT, "Transportable": False, "InProgressTimeoutSeconds": 600},
        )


def test_what_diskshadow_refuses(healthy, tmp_path):
    with pytest.raises(ScriptFailure, match="Writer verification failed"):
        create(healthy, "fs1")  # no Hyper-V there
    with pytest.raises(ScriptFailure, match="not a valid volume"):
        healthy.call(
            "hv1",
            "shadow_copy_create",
            {"Volumes": [{"Path": "E:\\", "Alias": "Vol1"}], "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600},
        )
    unreadable = ProvisionedLab(load_estate(ESTATES / "r9-lun-unreadable.yml"), tmp_path / "r9")
    made = create(unreadable)
    with pytest.raises(ScriptFailure, match="not visible or not readable on this host"):
        unreadable.call(
            "px1", "shadow_copy_import", {"SnapshotSetId": made["SnapshotSetId"], "Metadata": made["Metadata"]}
        )


def test_a_volume_on_a_disk_of_the_host_is_refused_in_a_transportable_set_or_left_out_when_asked(healthy):
    """No hardware provider serves C:\\ (a disk of hv1 itself): Windows fails `add volume` for it in a transportable
    set (VSS_E_VOLUME_NOT_SUPPORTED); -SkipUnsupported takes the set of the others and names C:\\ in Unsupported."""
    csv = {"Path": "C:\\ClusterStorage\\Volume1\\", "Alias": "Vol1"}
    system = {"Path": "C:\\", "Alias": "Vol2"}
    params = {"MetadataDir": ROOT, "InProgressTimeoutSeconds": 600}
    with pytest.raises(ScriptFailure, match=r"can put C:\\ in a transportable shadow copy set \(VSS_E_VOLUME_NOT"):
        healthy.call("hv1", "shadow_copy_create", {"Volumes": [csv, system], **params})
    with pytest.raises(ScriptFailure, match=r"can put C:\\ in a transportable"):  # nothing left to take
        healthy.call("hv1", "shadow_copy_create", {"Volumes": [system], "SkipUnsupported": True, **params})
    assert sets_created(healthy, "hv1") == 0
    made = healthy.call("hv1", "shadow_copy_create", {"Volumes": [system, csv], "SkipUnsupported": True, **params})
    assert [shadow["Volume"] for shadow in made["Shadows"]] == [csv["Path"]]
    assert [(u["Volume"], u["Alias"]) for u in made["Unsupported"]] == [("C:\\", "Vol2")]
    assert "Move-VMStorage" in made["Unsupported"][0]["Message"]
    assert sets_created(healthy, "hv1") == 1
    assert create(healthy)["Unsupported"] == []  # a set of the CSV alone


def test_a_mount_folder_windows_refuses_fails_the_script_with_windows_words(healthy):
    made = create(healthy)
    folder = f"{ROOT}\\{made['SnapshotSetId'].strip('{}')}"
    expose = [{"ShadowId": made["Shadows"][0]["ShadowId"], "Path": f"{folder}\\Vol|1"}]
    params = {"SnapshotSetId": made["SnapshotSetId"], "Metadata": made["Metadata"], "Expose": expose}
    request = build_request("shadow_copy_import", params).decode().splitlines()
    outcome = run_collection_request(healthy.contexts["px1"], request)
    reply = json.loads(outcome.output[0])
    assert outcome.exit_code == 1 and reply["failed"] is True
    assert reply["msg"] == "The filename, directory name, or volume label syntax is incorrect."
    with pytest.raises(HostPathError):
        healthy.host_file("px1", f"{folder}\\Vol|1")


def test_the_shadow_copy_module_runs_the_whole_flow_through_ansible(tmp_path):
    with estate_lab(ESTATES / "healthy.yml", tmp_path / "lab") as lab:

        def run(host: str, args: dict) -> dict:
            return ansible_adhoc(lab, tmp_path, host, "-m", "backup.hyperv.shadow_copy", "-a", json.dumps(args))[host]

        made = run("hv1", {"vms": ["vm1"]})
        assert made["changed"] is True and made["shadow_copies"][0]["volume"] == "C:\\ClusterStorage\\Volume1\\"
        imported = {"state": "imported", **{k: made[k] for k in ("snapshot_set_id", "metadata", "shadow_copies")}}
        assert run("px1", imported)["changed"] is True
        exposed = next(f["path"] for f in made["vm_files"]["vm1"] if f["path"].endswith("vm1.vhdx"))
        source = lab.host_file("hv1", "C", "ClusterStorage", "Volume1", "vm1", "vm1.vhdx").read_bytes()
        assert lab.host_file("px1", "C", *exposed.split("\\")[1:]).read_bytes() == source
        assert run("px1", imported)["changed"] is False  # already imported and exposed
        for host in ("px1", "hv1"):
            assert run(host, {"state": "absent", "snapshot_set_id": made["snapshot_set_id"]})["changed"] is True
        assert not any((lab.state_dir / "shared" / "shadows").iterdir())


def another_requester_creating(lab: ProvisionedLab, host: str, attempts: int) -> None:
    """Another requester's set is being created on `host` for the script's next `attempts` attempts."""
    with HostState(lab.contexts[host].state_dir).edit() as state:
        state["vss_other_requester"] = attempts


def sets_created(lab: ProvisionedLab, host: str) -> int:
    return read_counters(lab.contexts[host].state_dir).get("snapshot_sets", 0)


def test_the_create_waits_out_another_requesters_creation_and_tries_again(healthy):
    """VSS_E_SNAPSHOT_SET_IN_PROGRESS: the script tries again (every 15 s of its 600) until the other set is made."""
    another_requester_creating(healthy, "hv1", 3)
    made = create(healthy)
    counters = read_counters(healthy.contexts["hv1"].state_dir)
    assert counters["vss_in_progress"] == 3 and counters["snapshot_sets"] == 1
    assert healthy.host_file("hv1", made["MetadataPath"]).is_file()


def test_a_creation_that_outlasts_the_wait_fails_naming_it_and_creates_nothing(healthy):
    another_requester_creating(healthy, "hv1", 1000)
    with pytest.raises(ScriptFailure) as failed:
        healthy.call(
            "hv1",
            "shadow_copy_create",
            {
                "Volumes": [{"Path": "C:\\ClusterStorage\\Volume1\\", "Alias": "Vol1"}],
                "MetadataDir": ROOT,
                "InProgressTimeoutSeconds": 60,
            },
        )
    message = str(failed.value)
    assert "kept creating a shadow copy set on this host for 60 s" in message
    assert "VSS_E_SNAPSHOT_SET_IN_PROGRESS" in message and "schedule it apart from this job" in message
    assert read_counters(healthy.contexts["hv1"].state_dir)["vss_in_progress"] == 5  # 1 + 60 // 15 attempts
    assert sets_created(healthy, "hv1") == 0


def test_two_proxies_creating_on_one_host_at_once_queue_on_the_scripts_mutex(healthy, monkeypatch):
    """Two groups of one host on two proxies: neither is refused, and their creations do not overlap."""
    inside, most = [0], [0]
    copy_volume = shadow_copy._copy_volume

    def slow_copy(volume, target):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.2)
        copy_volume(volume, target)
        inside[0] -= 1

    monkeypatch.setattr(shadow_copy, "_copy_volume", slow_copy)
    with ThreadPoolExecutor(2) as pool:
        made = list(pool.map(lambda _: create(healthy), range(2)))
    assert len({m["SnapshotSetId"] for m in made}) == 2 and most[0] == 1
    assert sets_created(healthy, "hv1") == 2


def test_without_the_scripts_mutex_and_retry_windows_refuses_the_second_creation(healthy, monkeypatch):
    """What the lab answers a script that neither queues nor tries again: DiskShadow's failure, as VSS refuses."""
    monkeypatch.setattr(diskshadow, "script_queues_creation", lambda _script: False)
    monkeypatch.setattr(diskshadow, "creation_attempts", lambda _script, _timeout: 1)
    another_requester_creating(healthy, "hv1", 1)
    with pytest.raises(ScriptFailure, match=r"VSS_E_SNAPSHOT_SET_IN_PROGRESS, 0x80042316"):
        create(healthy)
    assert create(healthy)["SnapshotSetId"]  # the other requester's set is made: the next creation goes through
