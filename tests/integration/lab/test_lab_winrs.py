"""The lab over WinRS, driven by pywinrm exactly as a client of a Windows host would."""

from __future__ import annotations

import base64
import json

import pytest
import winrm
import xmltodict
from lab_testkit import DATA, PASSWORDS, USERS, collection_request
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh

CMD_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
TRANSFER_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"


@pytest.fixture
def protocol(lab):
    return winrm.Protocol(lab.endpoint("hv1"), transport="basic", username=USERS["hv1"], password=PASSWORDS["hv1"])


def run_with_stdin(protocol: winrm.Protocol, command: str, stdin: bytes) -> tuple[bytes, bytes, int]:
    """One command with stdin, as Ansible's winrm plugin runs the collection's command."""
    shell = protocol.open_shell(codepage=65001)
    try:
        parts = command.split(" ")
        command_id = protocol.run_command(shell, parts[0], parts[1:], console_mode_stdin=False)
        protocol.send_command_input(shell, command_id, stdin, end=True)
        result = protocol.get_command_output(shell, command_id)
        protocol.cleanup_command(shell, command_id)
        return result
    finally:
        protocol.close_shell(shell)


def test_recognised_script_is_answered_by_its_handler(lab, protocol):
    stdout, stderr, rc = run_with_stdin(protocol, _pwsh.COMMAND, collection_request("lab_echo", {"Text": "grüß"}))
    assert (rc, stderr) == (0, b"")
    assert json.loads(stdout) == {"echo": "grüß", "host": "hv1", "role": "hyperv"}
    assert b"\\u00fc" in stdout  # the bootstrap's reply is ASCII: non-ASCII escaped


def test_handler_failure_is_the_bootstraps_failed_document(protocol):
    stdout, _ignored, rc = run_with_stdin(protocol, _pwsh.COMMAND, collection_request("lab_echo", {"Text": "fail"}))
    assert rc == 1
    assert json.loads(stdout)["failed"] is True
    with pytest.raises(_pwsh.ScriptError, match="the test asked lab_echo to fail"):
        _pwsh.decode_reply("lab_echo", {"rc": rc, "stdout": stdout.decode(), "stderr": ""})


@pytest.mark.parametrize(
    ("request_line", "message"),
    [
        (collection_request("lab_echo", {}, body=b"Remove-Item C:\\ -Recurse\n"), "differs from the lab's copy"),
        (collection_request("no_such_script", {}, body=b"1\n"), "unknown collection script no_such_script.ps1"),
        (b"not json\n", "stdin is not a JSON request"),
    ],
)
def test_unknown_or_altered_script_is_refused(protocol, request_line, message):
    stdout, stderr, rc = run_with_stdin(protocol, _pwsh.COMMAND, request_line)
    assert rc == 1 and stdout == b""
    assert message in _pwsh.decode_stderr(stderr.decode())


def test_run_ps_of_an_unrecognised_script_fails_naming_it(protocol, lab):
    session = winrm.Session(lab.endpoint("hv1"), auth=(USERS["hv1"], PASSWORDS["hv1"]), transport="basic")
    result = session.run_ps("Get-Service -Name vmms")
    assert result.status_code == 1 and result.std_out == b""
    assert b"unrecognised PowerShell script" in result.std_err and b"Get-Service -Name vmms" in result.std_err


def test_run_cmd_of_a_program_other_than_powershell_fails_like_cmd(lab):
    session = winrm.Session(lab.endpoint("hv1"), auth=(USERS["hv1"], PASSWORDS["hv1"]), transport="basic")
    result = session.run_cmd("ipconfig", ["/all"])
    assert result.status_code == 1
    assert b"'ipconfig' is not recognized as an internal or external command" in result.std_err


def test_long_script_works_on_stdin_but_not_on_the_command_line(lab, protocol):
    script = (DATA / "lab_long.ps1").read_text()
    assert len(script) > 8191
    stdout, _ignored, rc = run_with_stdin(protocol, _pwsh.COMMAND, collection_request("lab_long", {"Count": 3}))
    assert (rc, json.loads(stdout)) == (0, {"count": 3, "host": "hv1"})
    session = winrm.Session(lab.endpoint("hv1"), auth=(USERS["hv1"], PASSWORDS["hv1"]), transport="basic")
    result = session.run_ps(script)
    assert result.status_code == 1
    assert result.std_err == b"The command line is too long.\r\n"


def test_a_command_line_at_the_limit_still_reaches_powershell(lab):
    session = winrm.Session(lab.endpoint("hv1"), auth=(USERS["hv1"], PASSWORDS["hv1"]), transport="basic")
    prefix = "powershell -encodedcommand "
    script = "#" * ((8191 - len(prefix)) * 3 // 8)  # UTF-16-LE, base64: 8/3 characters per script character
    line = prefix + base64.b64encode(script.encode("utf-16-le")).decode()
    assert len(line) <= 8191
    result = session.run_cmd(line)
    assert b"too long" not in result.std_err and b"unrecognised PowerShell script" in result.std_err


def test_wrong_password_gets_401(lab):
    session = winrm.Session(lab.endpoint("hv1"), auth=(USERS["hv1"], "wrong"), transport="basic")
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("whoami")
    assert lab.log("hv1")[-1]["status"] == 401


def test_unknown_shell_is_the_invalid_selectors_fault(protocol):
    with pytest.raises(WSManFaultError) as caught:
        protocol.run_command("11111111-2222-3333-4444-555555555555", "powershell", ["-encodedcommand", "AA=="])
    assert caught.value.wsman_fault_code == 2150858843
    assert caught.value.fault_subcode == "w:InvalidSelectors"
    assert "shell was not found" in caught.value.reason


def test_every_request_is_logged_with_what_answered_it(lab, protocol):
    before = len(lab.log("hv1"))
    run_with_stdin(protocol, _pwsh.COMMAND, collection_request("lab_echo", {"Text": "count me"}))
    records = lab.log("hv1")[before:]
    assert [r["operation"] for r in records] == ["Create", "Command", "Send", "Receive", "Signal", "Delete"]
    assert [r.get("handled_by") for r in records if r.get("handled_by")] == ["collection:lab_echo"]
    assert {r["transport"] for r in records} == {"winrs"}


def test_receive_before_stdin_is_closed_times_out_like_windows(lab):
    protocol = winrm.Protocol(
        lab.endpoint("hv1"),
        transport="basic",
        username=USERS["hv1"],
        password=PASSWORDS["hv1"],
        operation_timeout_sec=1,
        read_timeout_sec=5,
    )
    shell = protocol.open_shell()
    parts = _pwsh.COMMAND.split(" ")
    command_id = protocol.run_command(shell, parts[0], parts[1:], console_mode_stdin=False)
    with pytest.raises(WinRMOperationTimeoutError):  # the bootstrap still waits for its request
        protocol.get_command_output_raw(shell, command_id)
    protocol.send_command_input(shell, command_id, collection_request("lab_echo", {"Text": "late"}), end=True)
    stdout, _ignored, rc = protocol.get_command_output(shell, command_id)
    protocol.close_shell(shell)
    assert rc == 0 and json.loads(stdout)["echo"] == "late"


@pytest.mark.parametrize(
    ("resource_uri", "action", "code", "subcode"),
    [
        (CMD_URI, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reboot", 2150858771, "a:ActionNotSupported"),
        (
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service",
            TRANSFER_GET,
            2150858811,
            "w:DestinationUnreachable",
        ),
    ],
)
def test_unknown_operation_or_resource_is_a_wsman_fault(protocol, resource_uri, action, code, subcode):
    request = {"env:Envelope": protocol.build_wsman_header(resource_uri=resource_uri, action=action)}
    request["env:Envelope"]["env:Body"] = {}
    with pytest.raises(WSManFaultError) as caught:
        protocol.send_message(xmltodict.unparse(request))
    assert (caught.value.wsman_fault_code, caught.value.fault_subcode) == (code, subcode)


def test_ntlm_with_message_encryption_like_a_default_windows_host(lab):
    """pywinrm's default transport: NTLM handshake per connection, every SOAP body encrypted."""
    protocol = winrm.Protocol(lab.endpoint("hv1"), transport="ntlm", username=USERS["hv1"], password=PASSWORDS["hv1"])
    stdout, _ignored, rc = run_with_stdin(protocol, _pwsh.COMMAND, collection_request("lab_echo", {"Text": "sealed"}))
    assert (rc, json.loads(stdout)["echo"]) == (0, "sealed")
    wrong = winrm.Session(lab.endpoint("hv1"), auth=(USERS["hv1"], "wrong"), transport="ntlm")
    with pytest.raises(InvalidCredentialsError):
        wrong.run_cmd("whoami")
    assert "NTLM authentication failed" in lab.log("hv1")[-1]["reason"]


def batch_request(texts: list[str], stop: bool) -> bytes:
    """A batch of lab_echo requests as `_pwsh.build_batch_request` frames them."""
    requests = [json.loads(collection_request("lab_echo", {"Text": text})) for text in texts]
    return json.dumps({"stop": stop, "requests": requests}, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(("stop", "answered"), [(True, 2), (False, 3)])
def test_a_batch_is_one_command_answered_in_order(lab, protocol, stop: bool, answered: int):
    before = len(lab.log("hv1"))
    stdout, _ignored, rc = run_with_stdin(protocol, _pwsh.BATCH_COMMAND, batch_request(["one", "fail", "two"], stop))
    assert rc == 0
    decoded = _pwsh.decode_batch_reply(["lab_echo"] * 3, {"rc": rc, "stdout": stdout.decode(), "stderr": ""})
    assert len(decoded) == answered  # with stop, the script after the failure did not run
    assert decoded[0] == {"echo": "one", "host": "hv1", "role": "hyperv"}
    assert isinstance(decoded[1], _pwsh.ScriptError) and "asked lab_echo to fail" in decoded[1].msg
    if not stop:
        assert decoded[2] == {"echo": "two", "host": "hv1", "role": "hyperv"}
    handled = [r.get("handled_by") for r in lab.log("hv1")[before:] if r.get("handled_by")]
    assert handled == ["collection:lab_echo+lab_echo+lab_echo"]  # one round trip


def test_a_batch_with_a_script_the_lab_does_not_know_is_refused_whole(protocol):
    requests = [json.loads(collection_request("lab_echo", {"Text": "one"}))]
    requests.append(json.loads(collection_request("lab_echo", {}, body=b"Remove-Item C:\\ -Recurse\n")))
    line = json.dumps({"stop": False, "requests": requests}).encode() + b"\n"
    stdout, stderr, rc = run_with_stdin(protocol, _pwsh.BATCH_COMMAND, line)
    assert rc == 1 and stdout == b"" and b"differs from the lab's copy" in stderr
