"""data_mover action, issue 12: RCT baselines, change ids and slots travel to a Windows proxy's engine."""

from __future__ import annotations

import copy

import pytest
from test_data_mover_action import BACKUP, DONE, JOB_BACKUP, options_document, run

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import SCHEMA


@pytest.mark.parametrize("key", ["changed_ranges", "change_ids"])
def test_a_job_entrys_disk_keys_may_be_file_names_but_not_names_windows_refuses(make_action, recorded, key):
    """Keyed as the single-VM options are: the source's path or its file name (issue 12's contract)."""
    args = copy.deepcopy(JOB_BACKUP)
    value = {"since": "rct:1", "ranges": [[0, 4096]], "reason": None} if key == "changed_ranges" else "rct:2"
    args["jobs"][0][key] = {"web01-os.vhdx": value}
    result, calls = run(make_action, [recorded(DONE)], args)
    assert len(calls) == 1 and options_document(calls[0])["jobs"][0][key] == {"web01-os.vhdx": value}  # one start
    args["jobs"][0][key] = {"web01|os.vhdx": value}
    result, calls = run(make_action, [], args)
    assert calls == [] and result["failed"] is True and result["msg"].startswith(f"jobs[0].{key}: ")


def test_baselines_slots_and_change_ids_travel_in_the_document(make_action, recorded):
    baselines = {"operation": "baselines", "repository": "C:\\Backup\\repo", "vms": ["web01", "db01"]}
    _result, calls = run(make_action, [recorded(DONE)], baselines)
    document = options_document(calls[0])
    assert (document["operation"], document["vms"], document["schema"]) == ("baselines", ["web01", "db01"], SCHEMA)
    _result, calls = run(make_action, [recorded(DONE)], {**JOB_BACKUP, "slots": 3})
    assert options_document(calls[0])["slots"] == 3
    single = {**BACKUP, "change_ids": {"web01-os.vhdx": "rct:9"}}
    _result, calls = run(make_action, [recorded(DONE)], single)
    assert options_document(calls[0])["change_ids"] == {"web01-os.vhdx": "rct:9"}
