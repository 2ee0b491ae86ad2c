"""backup_option_problems: backup.yml's run variables checked by the code of the tasks that take them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.backup.hyperv.plugins.filter.backup_options import backup_option_problems
from ansible_collections.backup.hyperv.plugins.plugin_utils.backup_option_checks import (
    BOOLEAN_VARIABLES,
    DATA_MOVER_VARIABLES,
    GROUP_SNAPSHOT_VARIABLES,
)

BACKUP_YML = Path(__file__).resolve().parents[4] / "playbooks" / "backup.yml"
GOOD = {
    "backup_block_size": "256K",
    "backup_compression": "high",
    "backup_encryption": "chacha20-poly1305",
    "backup_lock_timeout": "30",
    "backup_data_mover_idle": 0,
    "backup_vss_wait_timeout": "60",
    "backup_expose_root": "D:\\Shadows",
    "backup_metadata_dir": "\\\\fs1\\meta",
    "backup_crash_consistent_fallback": "no",
    "backup_rct_audit": "yes",
}
BAD = {
    "backup_block_size": ("3M", "must be a power of two between 256K and 8M"),
    "backup_compression": ("zstd", "value of compression must be one of"),
    "backup_encryption": ("rot13", "value of encryption must be one of"),
    "backup_lock_timeout": (-1, "lock_timeout must be a number of seconds from 0 to 86400"),
    "backup_data_mover_idle": (86401, "server_idle must be 0 to 86400 seconds"),
    "backup_vss_wait_timeout": (-5, "vss_wait_timeout must be 0 or more seconds"),
    "backup_expose_root": ("shadows\\here", "must be an absolute Windows path"),
    "backup_metadata_dir": ("C:/meta", "metadata_dir"),
    "backup_crash_consistent_fallback": ("maybe", "unable to convert to bool"),
    "backup_rct_audit": ("perhaps", "must be true or false"),
}


def test_values_the_tasks_take_and_unset_variables_are_no_problem():
    assert backup_option_problems(GOOD) == []
    assert backup_option_problems(dict.fromkeys(GOOD)) == []  # none: the task's default


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_value_its_task_refuses_is_named_with_the_tasks_words(name):
    value, words = BAD[name]
    problems = backup_option_problems({**GOOD, name: value})
    assert len(problems) == 1 and problems[0].startswith(name), problems
    assert words in problems[0], problems


def test_every_wrong_variable_is_named_at_once():
    problems = backup_option_problems({name: value for name, (value, _words) in BAD.items()})
    assert [problem.split(":")[0].split(" ")[0] for problem in problems] == list(BAD)


def test_a_value_of_another_type_is_named_not_raised():
    problems = backup_option_problems({"backup_lock_timeout": {"a": 1}, "backup_expose_root": ["C:\\x"]})
    assert [p.split(":")[0] for p in problems] == ["backup_lock_timeout", "backup_expose_root"], problems
    with pytest.raises(AnsibleFilterError, match="takes a mapping"):
        backup_option_problems(["backup_block_size"])


def test_backup_yml_passes_every_checked_variable_and_names_each_once():
    """The first play's check gives the filter each variable it knows (a variable left out is never checked)."""
    first_play = yaml.safe_load(BACKUP_YML.read_text())[0]
    task = next(t for t in first_play["tasks"] if "__option_problems" in t.get("vars", {}))
    passed = re.findall(r"'(backup_\w+)': \1 \| default\(none\)", task["vars"]["__option_problems"])
    checked = [*DATA_MOVER_VARIABLES, *GROUP_SNAPSHOT_VARIABLES, *BOOLEAN_VARIABLES]
    assert sorted(passed) == sorted([*checked, "backup_repository"])
