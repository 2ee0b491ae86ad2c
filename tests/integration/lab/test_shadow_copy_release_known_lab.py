"""`shadow_copy state=absent` with the set's `shadow_copies` (what the backup job passes): one round trip, the
release script looking each place up itself, and `changed` only when it removed something."""

from __future__ import annotations

import json

from lab_testkit import ESTATES, ProvisionedLab, ansible_adhoc, estate_lab, run_lab

# isort: split
from lab.estate.loader import load_estate

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"


def test_the_release_script_counts_only_the_files_that_were_there(tmp_path):
    lab = ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path)
    missing = {"Files": [f"{ROOT}\\0b1c2d3e-0000-4000-8000-000000000000.cab"], "Directories": [f"{ROOT}\\gone"]}
    assert lab.call("hv1", "shadow_copy_release", missing)["removed_files"] == 0


def test_a_release_of_known_copies_is_one_round_trip_per_host_and_exact(tmp_path):
    with estate_lab(ESTATES / "healthy.yml", tmp_path / "lab") as lab:

        def run(host: str, args: dict) -> dict:
            return ansible_adhoc(lab, tmp_path, host, "-m", "backup.hyperv.shadow_copy", "-a", json.dumps(args))[host]

        def commands(host: str) -> int:
            counted = json.loads(run_lab("stats", "--reset", "--state-dir", str(lab.state_dir)).stdout)
            return counted[host]["commands"]

        made = run("hv1", {"vms": ["vm1"]})
        known = {k: made[k] for k in ("snapshot_set_id", "shadow_copies")}
        assert run("px1", {"state": "imported", "metadata": made["metadata"], **known})["changed"] is True
        commands("px1")
        for host in ("px1", "hv1"):
            released = run(host, {"state": "absent", **known})
            assert released["changed"] is True and commands(host) == 1
            assert run(host, {"state": "absent", **known})["changed"] is False and commands(host) == 1
        assert not any((lab.state_dir / "shared" / "shadows").iterdir())
        assert not list(lab.host_file("hv1", "C", "ProgramData", "backup.hyperv", "shadow").glob("*.cab"))
