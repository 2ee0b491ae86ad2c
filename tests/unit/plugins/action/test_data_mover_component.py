"""data_mover action on a Windows proxy: the data mover is the proxy's own record, never a role's variable.

The script (data_mover_run.ps1) finds the records whose Role is data_mover; the option component picks
one of several. What the script itself does is run through the lab (test_data_mover_run_lab.py).
"""

from __future__ import annotations

import pytest
from test_data_mover_action import BACKUP, DONE, as_job, options_document, run


@pytest.mark.parametrize("delegated", [False, True])
def test_no_role_variable_is_read(make_action, recorded, delegated):
    # The proxy's record says where its data mover is; the offhost_proxy role's manifest changes nothing.
    bogus = {"offhost_proxy_manifest": {"components": "not a manifest"}}
    plain, _calls = run(make_action, [recorded(DONE)], BACKUP)
    action, calls = make_action("data_mover", replies=as_job(recorded(DONE)), args=BACKUP)
    task_vars = {"inventory_hostname": "px1", **bogus}
    if delegated:
        action._task.delegate_to = "px9"
        task_vars["ansible_delegated_vars"] = {"px9": bogus}
    result = action.run(task_vars=task_vars)
    assert result == plain and not result.get("failed")
    assert calls[0].request()["params"]["Component"] == ""


def test_a_record_an_older_version_wrote_says_to_converge_again(make_action, recorded):
    reply = recorded("data_mover_run_not_installed.json")
    reply["stdout"]["outdated"] = ["data_mover"]
    result, _calls = run(make_action, [reply], BACKUP)
    assert result["msg"].startswith("R3: the data mover component is not installed on px1")
    assert "records without Role (written by an older version): data_mover" in result["msg"]
    assert "run backup.hyperv.proxy_components (or the backup.hyperv.offhost_proxy role) again" in result["msg"]


def test_several_data_movers_fail_naming_them_unless_component_picks_one(make_action, recorded):
    reply = recorded("data_mover_run_not_installed.json")
    reply["stdout"]["found"] = ["data_mover", "data_mover_next"]
    result, calls = run(make_action, [reply], BACKUP)
    assert calls[0].request()["params"]["Component"] == ""
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == (
        "px1 has several data mover components (data_mover, data_mover_next): "
        "set the option component to the one to run"
    )
    _result, calls = run(make_action, [recorded(DONE)], {**BACKUP, "component": "data_mover_next"})
    assert calls[0].request()["params"]["Component"] == "data_mover_next"
    assert "component" not in options_document(calls[0])  # the engine never sees it


def test_a_component_named_but_not_found_fails_with_r3_naming_the_others(make_action, recorded):
    reply = recorded("data_mover_run_not_installed.json")
    reply["stdout"]["found"] = ["data_mover"]
    result, _calls = run(make_action, [reply], {**BACKUP, "component": "mover2"})
    assert result["msg"].startswith("R3: the data mover component 'mover2' is not installed on px1")
    assert "data mover components installed: data_mover" in result["msg"]
