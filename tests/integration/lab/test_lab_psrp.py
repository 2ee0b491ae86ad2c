"""The lab over PSRP, driven by pypsrp's Client and RunspacePool/PowerShell directly."""

from __future__ import annotations

import json

import pytest
from lab_testkit import PASSWORDS, USERS, collection_request
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh


def wsman(lab, password: str | None = None) -> WSMan:
    address, port = lab.address("px1")
    return WSMan(
        address,
        port=port,
        username=USERS["px1"],
        password=password or PASSWORDS["px1"],
        ssl=False,
        auth="basic",
        encryption="never",
    )


def invoke_bootstrap(pool: RunspacePool, request: bytes) -> PowerShell:
    """What Ansible's psrp plugin does with the collection's command: run the bootstrap, stdin as input."""
    pipeline = PowerShell(pool)
    pipeline.add_script(_pwsh.BOOTSTRAP)
    pipeline.invoke(input=request.decode().splitlines())
    return pipeline


def test_recognised_script_is_answered_in_a_runspace_pool(lab):
    with RunspacePool(wsman(lab)) as pool:
        answers = [invoke_bootstrap(pool, collection_request("lab_echo", {"Text": text})) for text in ("a", "b")]
    assert [json.loads(p.output[0]) for p in answers] == [
        {"echo": text, "host": "px1", "role": "proxy"} for text in ("a", "b")
    ]
    assert not any(p.had_errors for p in answers)


def test_handler_failure_comes_back_as_the_failed_document(lab):
    with RunspacePool(wsman(lab)) as pool:
        pipeline = invoke_bootstrap(pool, collection_request("lab_echo", {"Text": "fail"}))
    assert json.loads(pipeline.output[0])["msg"] == "the test asked lab_echo to fail"


def test_altered_script_is_refused_as_a_terminating_error(lab):
    with RunspacePool(wsman(lab)) as pool:
        pipeline = invoke_bootstrap(pool, collection_request("lab_echo", {}, body=b"Stop-Computer\n"))
    assert pipeline.had_errors and pipeline.output == []
    assert "differs from the lab's copy" in str(pipeline.streams.error[0])


def test_execute_ps_of_an_unrecognised_script_fails_naming_it(lab):
    address, port = lab.address("px1")
    client = Client(
        address,
        port=port,
        username=USERS["px1"],
        password=PASSWORDS["px1"],
        ssl=False,
        auth="basic",
        encryption="never",
    )
    output, streams, had_errors = client.execute_ps("Get-VM | Select-Object -Property Name")
    assert had_errors and output == ""
    assert "unrecognised PowerShell script" in str(streams.error[0]) and "Get-VM" in str(streams.error[0])


def test_a_cmdlet_pipeline_is_refused_naming_the_commands(lab):
    with RunspacePool(wsman(lab)) as pool:
        pipeline = PowerShell(pool)
        pipeline.add_cmdlet("Get-Service").add_parameter("Name", "vmms")
        pipeline.invoke()
    assert pipeline.had_errors and "['Get-Service']" in str(pipeline.streams.error[0])


def test_wrong_password_gets_401(lab):
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(lab, password="wrong")).open()
    assert lab.log("px1")[-1]["status"] == 401


def test_requests_are_logged_as_psrp_with_the_handler(lab):
    before = len(lab.log("px1"))
    with RunspacePool(wsman(lab)) as pool:
        invoke_bootstrap(pool, collection_request("lab_echo", {"Text": "count me"}))
    records = lab.log("px1")[before:]
    assert {r["transport"] for r in records} == {"psrp"}
    assert [r["handled_by"] for r in records if r.get("handled_by")] == ["collection:lab_echo"]
    assert records[0]["operation"] == "Create" and records[-1]["operation"] == "Delete"


@pytest.mark.parametrize("auth", ["negotiate", "ntlm"])
def test_negotiate_and_ntlm_with_message_encryption(lab, auth):
    address, port = lab.address("px1")
    connection = WSMan(address, port=port, username=USERS["px1"], password=PASSWORDS["px1"], ssl=False, auth=auth)
    with RunspacePool(connection) as pool:
        pipeline = invoke_bootstrap(pool, collection_request("lab_echo", {"Text": auth}))
    assert json.loads(pipeline.output[0])["echo"] == auth


def test_a_batch_runs_in_the_runspace_pool_as_one_pipeline(lab):
    requests = [json.loads(collection_request("lab_echo", {"Text": text})) for text in ("a", "fail", "b")]
    batch = json.dumps({"stop": False, "requests": requests})
    with RunspacePool(wsman(lab)) as pool:
        pipeline = PowerShell(pool)
        pipeline.add_script(_pwsh.BATCH_BOOTSTRAP)
        pipeline.invoke(input=[batch])
    reply = {"rc": 0, "stdout": pipeline.output[0], "stderr": ""}
    first, failed, last = _pwsh.decode_batch_reply(["lab_echo"] * 3, reply)
    assert first == {"echo": "a", "host": "px1", "role": "proxy"} and last["echo"] == "b"
    assert isinstance(failed, _pwsh.ScriptError) and "asked lab_echo to fail" in failed.msg
