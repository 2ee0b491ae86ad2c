from __future__ import annotations

from ansible_collections.backup.hyperv.plugins.filter.run_hosts import run_host_problems

INVENTORY = ["hv1", "hv2", "px1"]


def test_hosts_in_the_run_are_no_problem():
    assert run_host_problems({"restore_proxy": "px1", "restore_host": "hv1"}, INVENTORY, ["px1", "hv1"]) == []


def test_a_host_in_another_case_an_unknown_one_and_one_the_limit_leaves_out_are_each_named():
    problems = run_host_problems({"restore_host": "HV1", "restore_proxy": "px9", "other": "hv2"}, INVENTORY, ["px1"])
    assert problems == [
        "restore_host 'HV1' is not a host of the inventory (inventory names are exact: did you mean hv1?).",
        "restore_proxy 'px9' is not a host of the inventory.",
        "other 'hv2' is left out of this run by the limit: add it to --limit.",
    ]
