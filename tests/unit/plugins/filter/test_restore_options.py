"""vm_restore_option_problems: restore_vm.yml asks vm_restore's own checks before anything is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.backup.hyperv.plugins.filter.restore_options import vm_restore_option_problems

RESTORE_VM_YML = Path(__file__).resolve().parents[4] / "playbooks" / "restore_vm.yml"
NAMES = {"name": "restore_name", "storage_path": "restore_storage_path", "start": "restore_start"}
NEW = {
    "vm": "web01",
    "source": "\\\\fs1\\vms\\staging",
    "location": "new",
    "name": "web01-dr",
    "storage_path": "D:\\VMs",
}


def test_options_the_module_takes_are_no_problem_and_none_is_left_out():
    assert vm_restore_option_problems({**NEW, "disk_path": None, "start": "yes"}, NAMES) == []
    original = {"vm": "web01", "source": "C:\\", "location": "original", "disks_in_place": True, "name": None}
    assert vm_restore_option_problems(original, NAMES) == []


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"name": "WEB01"}, "restore_name: name 'WEB01' is the restored VM's own name"),
        ({"storage_path": None}, "restore_storage_path: location is new but all of the following are missing"),
        ({"start": "maybe"}, "restore_start: argument 'start' is of type str"),
        ({"storage_path": "VMs"}, "restore_storage_path: storage_path: 'VMs' must be an absolute Windows path"),
        ({"location": "original"}, "restore_name, restore_storage_path: location=original keeps the VM's name"),
    ],
)
def test_a_refusal_is_the_modules_led_by_the_variables_it_names(change, said):
    problems = vm_restore_option_problems({**NEW, **change}, NAMES)
    assert len(problems) == 1 and problems[0].startswith(said), problems


def test_without_variables_the_modules_words_stand_alone():
    assert vm_restore_option_problems({**NEW, "name": "web01"})[0].startswith("name 'web01' is the restored VM's")
    with pytest.raises(AnsibleFilterError, match="takes a mapping"):
        vm_restore_option_problems("web01")


def test_restore_vm_yml_checks_every_option_its_registration_passes():
    plays = yaml.safe_load(RESTORE_VM_YML.read_text())
    registration = plays[-1]["tasks"][0]["block"][0]["backup.hyperv.vm_restore"]
    check = next(t for t in plays[1]["tasks"] if "__problems" in t.get("vars", {}))
    checked = re.findall(
        r"'(\w+)': ", check["vars"]["__problems"].split("| backup.hyperv.vm_restore_option_problems")[0]
    )
    assert sorted(checked) == sorted(registration)
