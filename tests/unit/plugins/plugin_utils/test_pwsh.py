"""The PowerShell runner: command shape and length, stdin request, reply decoding, both transports.

The transport tests drive ansible-core's real winrm and psrp connection plugins: winrm through a
real pywinrm Protocol whose HTTP exchange is answered offline (so the WinRS command line is the
one pywinrm would put on the wire), psrp up to the point where it hands the script to pypsrp.
"""

from __future__ import annotations

import base64
import json
import uuid
import xml.etree.ElementTree as ET

import pytest
import winrm
from ansible.playbook.play_context import PlayContext
from ansible.plugins.connection.psrp import Connection as PsrpConnection
from ansible.plugins.connection.winrm import Connection as WinrmConnection
from ansible.plugins.shell.powershell import ShellModule, _common_args

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import (
    BOOTSTRAP,
    COMMAND,
    COMMAND_LINE_LIMIT,
    PWSH_PREFIX,
    ScriptError,
    build_request,
    decode_reply,
    decode_stderr,
)

CLIXML = (
    "#< CLIXML\r\n"
    '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    '<Obj S="progress" RefId="0"><MS><I64 N="SourceId">1</I64></MS></Obj>'
    '<S S="Error">Get-Cluster : The cluster service is not running._x000D__x000A_</S>'
    '<S S="Error">Face _xD83D__xDE00_ and tab_x0009_end_x000D__x000A_</S></Objs>'
)


def reply(rc: int = 0, stdout: str = "", stderr: str = "") -> dict[str, object]:
    return {"rc": rc, "stdout": stdout, "stderr": stderr}


def test_prefix_is_the_one_core_builds_so_psrp_runs_it_in_process():
    core_prefix = " ".join([*_common_args, "-EncodedCommand"]) + " "
    assert core_prefix == PWSH_PREFIX
    winrm_prefix = ShellModule()._encode_script("", strict_mode=False, preserve_rc=False)
    assert COMMAND.startswith(winrm_prefix)  # winrm then sends it without encoding it again


def test_command_decodes_to_bootstrap():
    encoded = COMMAND[len(PWSH_PREFIX) :]
    assert " " not in encoded
    assert base64.b64decode(encoded).decode("utf-16-le") == BOOTSTRAP


def test_command_fits_cmd_line_even_if_encoded_twice():
    assert len(COMMAND) < 2000
    twice = ShellModule()._encode_script(COMMAND, strict_mode=False, preserve_rc=False)
    assert len(COMMAND) < len(twice) < COMMAND_LINE_LIMIT


def test_request_is_one_ascii_json_line_with_name_script_and_params():
    secret = "pä$$'word\"\n"
    request = build_request("host_facts", {"Password": secret, "Components": [{"Role": "installer"}]})
    assert request.endswith(b"\n") and request.count(b"\n") == 1
    request.decode("ascii")
    payload = json.loads(request)
    assert set(payload) == {"name", "script", "params"}
    assert payload["name"] == "host_facts"
    assert base64.b64decode(payload["script"]) == _pwsh.load_script("host_facts")
    assert payload["params"]["Password"] == secret
    assert secret not in COMMAND


def test_load_script_strips_utf8_bom(tmp_path, monkeypatch):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "bom_probe.ps1").write_bytes(b"\xef\xbb\xbf$x = 1\n")
    monkeypatch.setattr(_pwsh.importlib.resources, "files", lambda _package: tmp_path)
    assert _pwsh.load_script("bom_probe") == b"$x = 1\n"


@pytest.mark.parametrize("name", ["../host_facts", "Host_Facts", "host-facts", ""])
def test_load_script_refuses_names_outside_scripts(name):
    with pytest.raises(ValueError, match="invalid script name"):
        _pwsh.load_script(name)


def test_load_script_of_missing_script_names_it():
    with pytest.raises(FileNotFoundError, match="no_such_probe"):
        _pwsh.load_script("no_such_probe")


def test_decode_reply_returns_document_and_skips_host_noise():
    stdout = 'probe starting\r\n{"schema_version":"1.0","os":{"build":20348}}\r\n'
    assert decode_reply("host_facts", reply(stdout=stdout)) == {"schema_version": "1.0", "os": {"build": 20348}}


def test_decode_reply_failure_document_raises_with_message_and_position():
    failure = {"failed": True, "name": "host_facts", "msg": "Access is denied", "at": "At host_facts.ps1:12 char:5"}
    with pytest.raises(ScriptError) as caught:
        decode_reply("host_facts", reply(rc=1, stdout=json.dumps(failure), stderr=CLIXML))
    error = caught.value
    assert error.rc == 1 and error.name == "host_facts"
    assert str(error) == "host_facts.ps1: Access is denied At host_facts.ps1:12 char:5"
    assert "#< CLIXML" not in error.stderr and "The cluster service is not running." in error.stderr


def test_decode_reply_without_json_reports_first_stderr_line():
    with pytest.raises(ScriptError, match=r"no result \(rc=1\): Get-Cluster : The cluster service is not running\."):
        decode_reply("host_facts", reply(rc=1, stderr=CLIXML))


@pytest.mark.parametrize("stdout", ["", "[1, 2]", "null", "{not json"])
def test_decode_reply_without_object_fails(stdout):
    with pytest.raises(ScriptError, match="stdout held no JSON object"):
        decode_reply("host_facts", reply(stdout=stdout))


def test_decode_reply_nonzero_rc_after_document_fails():
    with pytest.raises(ScriptError, match="exited with rc=3 after its result: boom"):
        decode_reply("host_facts", reply(rc=3, stdout='{"schema_version":"1.0"}', stderr="boom\r\n"))


def test_script_error_to_result_carries_everything_the_host_said():
    result = ScriptError("host_facts", 1, "out", "err", "bad").to_result()
    assert result == {"failed": True, "msg": "host_facts.ps1: bad", "rc": 1, "stdout": "out", "stderr": "err"}


def test_clixml_error_strings_become_text():
    assert decode_stderr(CLIXML) == (
        "Get-Cluster : The cluster service is not running.\r\nFace \U0001f600 and tab\tend"
    )


def test_clixml_keeps_surrounding_text_and_malformed_documents():
    broken = '#< CLIXML\r\n<Objs Version="1"><S S="Error">unterminated</Objs>'
    assert decode_stderr("before\r\n" + broken) == 'before\r\n\r\n<Objs Version="1"><S S="Error">unterminated</Objs>'
    assert decode_stderr("plain text\r\n") == "plain text\r\n"


class OfflineWinRS:
    """Answers pywinrm's WS-Management messages in place of a WinRM service, recording each."""

    NS = {
        "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
        "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    }

    def __init__(self, stdout: bytes, rc: int = 0) -> None:
        self.stdout = stdout
        self.rc = rc
        self.command_line: list[str] = []
        self.stdin = b""

    def send_message(self, message: str) -> bytes:
        root = ET.fromstring(message)
        action = root.find(".//a:Action", self.NS).text.rsplit("/", 1)[1]
        message_id = root.find(".//a:MessageID", self.NS).text
        body = getattr(self, f"_{action.lower()}")(root)
        return (
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:a="{self.NS["a"]}" xmlns:rsp="{self.NS["rsp"]}">'
            f"<s:Header><a:RelatesTo>{message_id}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
        ).encode()

    def _command(self, root: ET.Element) -> str:
        self.command_line = [root.find(".//rsp:Command", self.NS).text, root.find(".//rsp:Arguments", self.NS).text]
        command_id = "C0FFEE00-0000-0000-0000-000000000001"
        return f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"

    def _send(self, root: ET.Element) -> str:
        self.stdin += base64.b64decode(root.find(".//rsp:Stream", self.NS).text)
        return "<rsp:SendResponse/>"

    def _receive(self, root: ET.Element) -> str:
        done = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
        stdout = base64.b64encode(self.stdout).decode()
        state = f'<rsp:CommandState State="{done}"><rsp:ExitCode>{self.rc}</rsp:ExitCode></rsp:CommandState>'
        return f'<rsp:ReceiveResponse><rsp:Stream Name="stdout">{stdout}</rsp:Stream>{state}</rsp:ReceiveResponse>'

    def _signal(self, root: ET.Element) -> str:
        return "<rsp:SignalResponse/>"


def test_winrm_plugin_puts_the_command_on_the_wire_unchanged_and_payload_on_stdin():
    server = OfflineWinRS(b'{"schema_version":"1.0"}\r\n')
    connection = WinrmConnection(PlayContext(), None)
    connection.protocol = winrm.protocol.Protocol("http://127.0.0.1:5985/wsman", username="u", password="p")
    connection.protocol.send_message = server.send_message
    connection.shell_id = str(uuid.uuid4()).upper()
    connection._winrm_host = "127.0.0.1"
    connection._connected = True
    request = build_request("host_facts", {"ProbeTimeout": 5})

    rc, stdout, stderr = connection.exec_command(COMMAND, in_data=request, sudoable=False)

    wire_command = " ".join(server.command_line)  # what WinRS hands to cmd.exe
    assert wire_command == COMMAND and len(wire_command) < COMMAND_LINE_LIMIT
    assert server.stdin == request
    assert decode_reply("host_facts", {"rc": rc, "stdout": stdout.decode(), "stderr": stderr.decode()}) == {
        "schema_version": "1.0"
    }


def test_psrp_plugin_runs_the_bootstrap_in_its_runspace_with_one_input_line(monkeypatch):
    connection = PsrpConnection(PlayContext(), None)
    connection._connected = True
    connection._psrp_host = "127.0.0.1"
    seen = {}

    def exec_psrp_script(script, input_data=None, use_local_scope=True, arguments=None):
        seen.update(script=script, input_data=input_data, arguments=arguments)
        return 0, b'{"schema_version":"1.0"}', b""

    monkeypatch.setattr(connection, "_exec_psrp_script", exec_psrp_script)
    request = build_request("host_facts", {"ProbeTimeout": 5})

    rc, stdout, _ignored = connection.exec_command(COMMAND, in_data=request, sudoable=False)

    assert seen["script"] == BOOTSTRAP  # decoded and run in-process, not a new PowerShell.exe
    assert seen["input_data"] == [request.decode().rstrip("\n")]
    assert seen["arguments"] is None
    assert (rc, json.loads(stdout)) == (0, {"schema_version": "1.0"})
