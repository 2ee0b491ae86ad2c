"""data_mover action: a Windows proxy runs its installed engine as a job (a start that polls it once, then polls
while it runs; the poll that sees its end releases it: recorded data_mover_run replies are played as a start whose
poll found the job done, as_job); other hosts run the module."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from ansible.errors import AnsibleActionFail
from ansible.plugins.shell.sh import ShellModule as PosixShell

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.argspec import ARGUMENT_SPEC
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import SCHEMA, DataMoverOptions
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import COMMAND, load_script

DONE = "data_mover_run_backup_done.json"
PASSPHRASE = "Vault-Passphrase-9d1e"
BACKUP = {
    "operation": "backup",
    "repository": "C:\\Backup\\repo",
    "vm": "web01",
    "source": ["C:\\VMs\\web01\\web01-os.vhdx", "C:\\VMs\\web 01\\Virtual Machines\\A.vmcx"],
    "passphrase": PASSPHRASE,
}
TRANSPORTS = ("ansible.builtin.psrp", "ansible.builtin.winrm")
JOB_BACKUP = {
    "operation": "backup",
    "repository": "C:\\Backup\\repo",
    "passphrase": PASSPHRASE,
    "jobs": [
        {
            "vm": "web01",
            "sources": ["C:\\VMs\\web01\\web01-os.vhdx"],
            "changed_ranges": {"C:\\VMs\\web01\\web01-os.vhdx": [[0, 65536]]},
        },
        {"vm": "db01", "sources": ["\\\\fs1\\vms\\db01\\db01.vhdx", "C:\\VMs\\db 01\\db01.vmcx"]},
    ],
}
JOB_RESTORE = {
    "operation": "restore",
    "repository": "C:\\Backup\\repo",
    "passphrase": PASSPHRASE,
    "jobs": [
        {"vm": "web01", "destination": "D:\\Restore\\web01", "format": "raw", "overwrite": True},
        {"vm": "db01", "destination": "\\\\fs1\\restore\\db01", "restore_point": "20261124T220501.123456Z-3f2a9c1e"},
    ],
}


def as_job(reply, check_mode: bool = False) -> list:
    """A recorded in-shell reply (data_mover_run.ps1: ran, exit_code, stdout, stderr) as the job's round trips:
    the start's reply, whose own poll found the job done and released it when it ran; in check mode the poll
    leaves it, and a release without a kept reply follows."""
    if not isinstance(reply, dict) or "ran" not in reply.get("stdout", {}):
        return [reply]
    ran = reply["stdout"]
    found = {key: ran[key] for key in ("component", "found", "outdated")}
    done = {key: ran[key] for key in ("exit_code", "stdout", "stderr")}
    poll = (
        {"job": "0" * 32, "state": "done", "progress": None, **done, "released": not check_mode} if ran["ran"] else None
    )
    start = {"stdout": {**found, "job": "0" * 32, "started": ran["ran"], "already": False, "poll": poll}}
    return [start, {"stdout": {**poll, "released": True}}] if check_mode and poll else [start]


def run(make_action, replies, args, check_mode=False, transport=TRANSPORTS[0], task_vars=None):
    replies = [played for reply in replies for played in as_job(reply, check_mode)]
    action, calls = make_action("data_mover", replies=replies, args=args, check_mode=check_mode, transport=transport)
    original = copy.deepcopy(action._task.args)
    result = action.run(task_vars=task_vars or {"inventory_hostname": "px1"})
    assert action._task.args == original  # never mutated
    return result, calls


def options_document(call) -> dict:
    """The options document the script hands the engine on stdin (DataMoverOptions.to_json)."""
    params = call.request()["params"]
    # nothing else: no command line, no layout
    assert sorted(params) == ["Component", "JobId", "Options", "Release", "Server", "ServerIdleSeconds", "WaitSeconds"]
    assert (params["Server"], params["ServerIdleSeconds"]) == (False, 0)  # server_idle left out: no job server
    return json.loads(params["Options"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_windows_proxy_starts_a_short_job_polls_and_releases_it_in_one_round_trip(make_action, recorded, transport):
    result, calls = run(make_action, [recorded(DONE)], BACKUP, transport=transport)
    assert len(calls) == 1 and all(call.cmd == COMMAND and not call.sudoable for call in calls)
    request = calls[0].request()
    assert request["name"] == "data_mover_start"  # its own poll found the job done and released it
    assert base64.b64decode(request["script"]) == load_script("data_mover_start")
    job_id = request["params"]["JobId"]
    assert len(job_id) == 32 and int(job_id, 16) >= 0  # the controller's choice: a re-sent start finds it
    assert (request["params"]["WaitSeconds"], request["params"]["Release"]) == (5, True)
    assert request["params"]["Component"] == ""  # no name: the script finds the data mover's record itself
    document = options_document(calls[0])
    module_params = {name: spec.get("default") for name, spec in ARGUMENT_SPEC.items()}  # as the module fills
    expected = DataMoverOptions.from_params({**module_params, **BACKUP})
    assert DataMoverOptions.from_json(request["params"]["Options"]) == expected  # the same object as in-process
    assert document["schema"] == SCHEMA and document["block_size"] == 1 << 20 and document["hash"] == "blake3"
    assert document["passphrase"] == PASSPHRASE  # inside the document, on stdin only
    assert PASSPHRASE not in calls[0].cmd
    assert PASSPHRASE not in json.dumps(result)
    assert result["changed"] is True and not result.get("failed")
    assert result["restore_point"] and result["disks"][0]["source"] == "C:\\VMs\\web01\\web01-os.vhdx"


@pytest.mark.parametrize(
    "args",
    [
        BACKUP,
        {**BACKUP, "operation": "restore", "source": None, "destination": "D:\\Restore"},
        {"operation": "prune", "repository": "C:\\Backup\\repo", "keep_last": 7},
        {"operation": "verify", "repository": "C:\\Backup\\repo"},
        {"operation": "list", "repository": "C:\\Backup\\repo"},
    ],
)
def test_check_mode_travels_in_the_document(make_action, recorded, args):
    _result, calls = run(make_action, [recorded(DONE)], args, check_mode=True)
    document = options_document(calls[0])
    start = calls[0].request()["params"]
    assert start["Release"] is False  # the start's poll leaves the ended job; the one release after keeps no reply
    release = {"name": "data_mover_poll", "params": {"JobId": start["JobId"], "Release": True, "KeepReply": False}}
    assert [{key: call.request()[key] for key in ("name", "params")} for call in calls[1:]] == [release]
    assert document["operation"] == args["operation"] and document["check_mode"] is True
    _result, calls = run(make_action, [recorded(DONE)], args)
    assert options_document(calls[0])["check_mode"] is False


def test_restore_and_verify_options_reach_the_engine(make_action, recorded):
    restore = {**BACKUP, "operation": "restore", "source": None, "destination": "\\\\fs1\\restore\\web01"}
    restore.update(restore_point="20261124T220501.123456Z-3f2a9c1e", format="raw", overwrite=True, lock_timeout=30)
    _result, calls = run(make_action, [recorded(DONE)], restore)
    document = options_document(calls[0])
    chosen = ("destination", "vm", "restore_point", "format", "overwrite", "repository")
    assert {key: document[key] for key in chosen} == {key: restore[key] for key in chosen}
    assert document["lock_timeout"] == 30.0
    verify = {"operation": "verify", "repository": "C:\\Backup\\repo", "vm": "web01"}
    _result, calls = run(make_action, [recorded(DONE)], verify)
    assert "restore_point" not in options_document(calls[0])  # 'latest' verifies everything


def test_changed_ranges_travel_in_the_document(make_action, recorded):
    ranges = {"C:\\VMs\\web01\\web01-os.vhdx": [{"offset": 1048576, "length": 65536}, [536870912, 4194304]]}
    _result, calls = run(make_action, [recorded(DONE)], {**BACKUP, "changed_ranges": ranges})
    expected = {"C:\\VMs\\web01\\web01-os.vhdx": [[1048576, 65536], [536870912, 4194304]]}
    assert options_document(calls[0])["changed_ranges"] == expected  # keyed by source on the proxy, not here


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_backup_job_travels_in_the_document(make_action, recorded, check_mode):
    args = {**JOB_BACKUP, "encryption": "aes-256-gcm", "kdf": "argon2id"}
    _result, calls = run(make_action, [recorded(DONE)], args, check_mode)
    document = options_document(calls[0])
    assert (document["encryption"], document["kdf"], document["check_mode"]) == ("aes-256-gcm", "argon2id", check_mode)
    assert [entry["vm"] for entry in document["jobs"]] == ["web01", "db01"] and document["vm"] is None
    assert [entry["sources"] for entry in document["jobs"]] == [entry["sources"] for entry in JOB_BACKUP["jobs"]]
    assert document["jobs"][0]["changed_ranges"] == JOB_BACKUP["jobs"][0]["changed_ranges"]


def test_a_restore_job_leaves_restore_point_format_and_overwrite_to_its_entries(make_action, recorded):
    _result, calls = run(make_action, [recorded(DONE)], JOB_RESTORE)
    jobs = options_document(calls[0])["jobs"]
    assert [(entry["format"], entry["overwrite"]) for entry in jobs] == [("raw", True), ("vhdx", False)]
    assert [entry["restore_point"] for entry in jobs] == ["latest", JOB_RESTORE["jobs"][1]["restore_point"]]


@pytest.mark.parametrize(
    ("args", "index", "key", "path"),
    [
        (JOB_BACKUP, 1, "sources", "db01.vhdx"),
        (JOB_RESTORE, 1, "destination", "Restore\\db01"),
    ],
)
def test_a_relative_path_in_a_job_entry_fails_naming_the_entry(make_action, args, index, key, path):
    args = copy.deepcopy(args)
    entry = args["jobs"][index]
    if key == "sources":
        entry["sources"].append(path)
    else:
        entry["destination"] = path
    result, calls = run(make_action, [], args)
    assert calls == [] and result["failed"] is True
    assert result["msg"].startswith(f"jobs[{index}].{key}: {path!r} must be an absolute Windows path")


def test_a_job_with_a_failed_vm_fails_with_every_vms_result(make_action, recorded):
    failed_vms = ["db01"]
    results = [
        {"vm": "web01", "failed": False, "changed": True, "restore_point": "20261124T225209.110872Z-5e6f2c24"},
        {"vm": "db01", "failed": True, "changed": False, "msg": "cannot open C:\\VMs\\db01\\db01.vhdx"},
    ]
    reply = recorded(DONE)
    reply["stdout"].update(
        exit_code=1,
        stdout=json.dumps({"changed": True, "results": results, "failed_vms": failed_vms}, indent=2) + "\n",
        stderr="hyperv-datamover: error: backup failed for VM db01\r\n",
    )
    result, _calls = run(make_action, [reply], JOB_BACKUP)
    assert result["failed"] is True and result["rc"] == 1 and result["changed"] is True
    assert result["msg"] == "data mover: backup failed for VM db01"
    assert result["failed_vms"] == failed_vms and result["results"] == results


@pytest.mark.parametrize(
    ("fixture", "starts", "names"),
    [
        (
            "data_mover_run_not_installed.json",
            "R3: the data mover component is not installed on px1",
            "no record with Role data_mover under HKLM:\\SOFTWARE\\backup.hyperv\\Components",
        ),
        (
            "data_mover_run_runtime_missing.json",
            "R3: the data mover component 'data_mover' is not installed on px1",
            "python\\python.exe is missing in C:\\Program Files",
        ),
    ],
)
def test_a_proxy_without_the_component_fails_with_r3_and_the_remedy(make_action, recorded, fixture, starts, names):
    result, calls = run(make_action, [recorded(fixture)], BACKUP)
    assert len(calls) == 1 and result["failed"] is True and result["changed"] is False  # nothing started
    assert result["msg"].startswith(starts)
    assert names in result["msg"]
    assert "backup.hyperv.offhost_proxy role" in result["msg"] and "backup.hyperv.proxy_components" in result["msg"]


def test_an_engine_error_fails_with_its_line_and_the_passphrase_masked(make_action, recorded):
    reply = recorded("data_mover_run_wrong_passphrase.json")
    reply["stdout"]["stderr"] += f"debug: tried {PASSPHRASE}\r\n"  # an engine that echoed it must not leak it
    result, _calls = run(make_action, [reply], BACKUP)
    assert result["failed"] is True and result["rc"] == 1
    assert result["msg"] == "data mover: wrong passphrase: it does not unlock the repository key"
    assert PASSPHRASE not in json.dumps(result)


def test_verify_damage_fails_the_task_with_the_damage(make_action, recorded):
    args = {"operation": "verify", "repository": "C:\\Backup\\repo", "passphrase": PASSPHRASE}
    result, _calls = run(make_action, [recorded("data_mover_run_verify_damage.json")], args)
    assert result["failed"] is True and result["ok"] is False
    assert result["msg"] == "verification found damage in C:\\Backup\\repo"
    assert result["damaged"][0]["offset"] == 5242880


def test_a_script_failure_is_reported_without_the_passphrase(make_action):
    failure = {"failed": True, "name": "data_mover_start", "msg": f"Access denied {PASSPHRASE}", "at": ""}
    result, _calls = run(make_action, [(1, json.dumps(failure), "")], BACKUP)
    assert result["failed"] is True and "Access denied ********" in result["msg"]
    assert PASSPHRASE not in json.dumps(result)


@pytest.mark.parametrize("option", ["repository", "source", "destination"])
def test_relative_paths_fail_before_any_round_trip(make_action, option):
    args = {**BACKUP, "operation": "restore" if option == "destination" else "backup", "destination": "D:\\x"}
    args[option] = ["web01.vhdx"] if option == "source" else "repo"
    result, calls = run(make_action, [], args)
    assert calls == [] and result["failed"] is True and "must be an absolute Windows path" in result["msg"]


@pytest.mark.parametrize("seconds", [-1, 86401])
def test_a_server_idle_the_start_script_refuses_fails_before_any_round_trip(make_action, seconds):
    result, calls = run(make_action, [], {**BACKUP, "server_idle": seconds})
    assert calls == [] and result["failed"] is True and "server_idle must be 0 to 86400 seconds" in result["msg"]


@pytest.mark.parametrize(
    ("seconds", "check_mode", "sent"), [(300, False, (True, 300)), (0, False, (True, 0)), (300, True, (False, 0))]
)
def test_server_idle_reaches_the_start_script_but_not_in_a_check_run(make_action, recorded, seconds, check_mode, sent):
    _, calls = run(make_action, [recorded(DONE)], {**BACKUP, "server_idle": seconds}, check_mode=check_mode)
    params = calls[0].request()["params"]
    assert (params["Server"], params["ServerIdleSeconds"]) == sent


def test_the_shared_spec_is_validated_before_any_round_trip(make_action):
    with pytest.raises(AnsibleActionFail, match="source"):
        run(make_action, [], {"operation": "backup", "repository": "C:\\r", "vm": "web01"})


def test_other_connections_run_the_python_module(make_action, monkeypatch):
    action, calls = make_action("data_mover", args=BACKUP, transport="ansible.builtin.local")
    action._connection._shell = PosixShell()
    executed = []

    def execute_module(module_name=None, module_args=None, task_vars=None, **kwargs):
        executed.append((module_name, module_args))
        return {"changed": True, "restore_point": "rp-1"}

    monkeypatch.setattr(action, "_execute_module", execute_module)
    result = action.run(task_vars={})
    assert executed == [("backup.hyperv.data_mover", BACKUP)] and calls == []
    assert result["restore_point"] == "rp-1"


RESTORE = {"operation": "restore", "repository": "C:\\Backup\\repo", "vm": "web01", "destination": "C:\\Restore\\m1"}


@pytest.mark.parametrize(
    ("args", "option", "shown"),
    [
        ({**RESTORE, "destination": "C:\\Restore\x0bm1"}, "destination", "C:\\Restore\\x0bm1"),
        ({**RESTORE, "repository": "C:\\Backup\\repo|old"}, "repository", "'|'"),
        ({**BACKUP, "source": ["C:\\VMs\\web01\\web01-os.vhdx", "C:\\VMs\temp.vhdx"]}, "source[1]", "\\x09 (tab"),
        ({**BACKUP, "changed_ranges": {"C:\\VMs\\web01\\NUL.vhdx": [[0, 4096]]}}, "changed_ranges", "device name"),
        (
            {**JOB_RESTORE, "jobs": [{"vm": "web01", "destination": "D:\\Restore\\web01\r"}]},
            "jobs[0].destination",
            "\\x0d (carriage return",
        ),
        ({**JOB_BACKUP, "jobs": [{"vm": "db01", "sources": ["C:\\VMs\\db01:x.vhdx"]}]}, "jobs[0].sources", "':'"),
    ],
)
def test_a_path_windows_refuses_fails_before_any_round_trip(make_action, args, option, shown):
    result, calls = run(make_action, [], args)
    assert calls == [] and result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(f"{option}: ") and shown in result["msg"]


def test_a_key_value_mangled_destination_says_how_to_pass_it(make_action):
    result, calls = run(make_action, [], {**RESTORE, "destination": "C:\\Restore\x0bm1"})
    assert calls == [] and "vertical tab, what \\v becomes when a path is passed as -e key=value" in result["msg"]
    assert "-e @vars.yml" in result["msg"] and '-e \'{"VARIABLE": "C:\\\\Restore\\\\vm1"}\'' in result["msg"]


def test_a_relative_restore_file_destination_fails_before_any_round_trip(make_action):
    args = {**BACKUP, "operation": "restore_file", "path": "\\Users", "destination": "out"}
    del args["source"]
    result, calls = run(make_action, [], args)
    assert (
        calls == []
        and result["failed"] is True
        and "destination: 'out' must be an absolute Windows path" in result["msg"]
    )
