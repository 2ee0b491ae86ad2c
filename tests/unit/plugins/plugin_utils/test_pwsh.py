"""The PowerShell runner: command shape and length, stdin request, reply decoding, both transports.

The transport tests drive ansible-core's real winrm and psrp connection plugins: winrm through a
real pywinrm Protocol whose HTTP exchange is answered offline (so the WinRS command line is the
one pywinrm would put on the wire), psrp up to the point where it hands the script to pypsrp.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

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


def scripts_in(tmp_path, monkeypatch, files):
    (tmp_path / "scripts").mkdir()
    for name, body in files.items():
        (tmp_path / "scripts" / f"{name}.ps1").write_bytes(body)
    monkeypatch.setattr(_pwsh.importlib.resources, "files", lambda _package: tmp_path)


def test_load_script_expands_includes_in_place_and_nested(tmp_path, monkeypatch):
    scripts = {
        "main_probe": b"param($a)\r\n#include lib_probe.ps1\r\n$a\r\n",
        "lib_probe": b"\xef\xbb\xbffunction F {}\n#include inner_probe.ps1\n\n",
        "inner_probe": b"function G {}\n",
    }
    scripts_in(tmp_path, monkeypatch, scripts)
    assert _pwsh.load_script("main_probe") == b"param($a)\r\nfunction F {}\nfunction G {}\r\n$a\r\n"


def test_an_include_of_itself_is_refused(tmp_path, monkeypatch):
    loop = {"loop_probe": b"#include again_probe.ps1\n", "again_probe": b"#include loop_probe.ps1\n"}
    scripts_in(tmp_path, monkeypatch, loop)
    with pytest.raises(ValueError, match=r"loop_probe\.ps1 includes itself"):
        _pwsh.load_script("loop_probe")


def test_only_a_whole_line_directive_includes(tmp_path, monkeypatch):
    body = b"# see #include x_probe.ps1\n  #include x_probe.ps1\n#include X.ps1\n"
    scripts_in(tmp_path, monkeypatch, {"plain_probe": body})
    assert _pwsh.load_script("plain_probe") == body


SCRIPTS_DIR = Path(_pwsh.__file__).with_name("scripts")
DISKSHADOW = ["Invoke-DiskShadow", "Invoke-Program"]
# The shared functions each script gets through its includes (#include, nested in diskshadow_common.ps1).
SHARED_FUNCTIONS = {
    "data_mover_run": ["Invoke-Program"],
    "host_facts": ["Invoke-Program", "New-List", "Get-Text"],
    "proxy_components_read": ["New-List"],
    "proxy_components_apply": ["Invoke-Program", "Invoke-PlanSteps"],
    "vss_provider_read": ["Get-Text"],
    "vss_provider_apply": ["Invoke-Program", "Invoke-PlanSteps"],
    "windows_feature_apply": ["Invoke-PlanSteps"],
    "shadow_copy_create": DISKSHADOW,
    "shadow_copy_import": DISKSHADOW,
    "shadow_copy_release": DISKSHADOW,
}
# What the scripts share, and the one include file that spells it.
ONE_PLACE = {
    r"ProcessStartInfo|Start-Process": "process_common.ps1",
    r"foreach \(\$\w+ in \$Steps\)": "steps_common.ps1",
    r"function (New-List|Get-Text) ": "values_common.ps1",
    r"'HKLM:\\SOFTWARE\\(backup\.hyperv|Microsoft\\Windows\\CurrentVersion\\Uninstall)": "records_common.ps1",
}


@pytest.mark.parametrize(("name", "functions"), SHARED_FUNCTIONS.items())
def test_scripts_carry_each_shared_function_they_include_once(name, functions):
    sent = _pwsh.load_script(name).decode("utf-8")
    assert [sent.count(f"function {function} ") for function in functions] == [1] * len(functions)
    assert not [line for line in sent.splitlines() if line.startswith("#include")]


def scripts_matching(pattern: str) -> list[str]:
    found = re.compile(pattern, re.IGNORECASE)
    return sorted(path.name for path in SCRIPTS_DIR.glob("*.ps1") if found.search(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(("pattern", "home"), ONE_PLACE.items())
def test_what_the_scripts_share_is_spelled_in_one_include(pattern, home):
    assert scripts_matching(pattern) == [home]


# style.md: one idea per file, under about 300 lines.
SCRIPT_LINE_LIMIT = 300


@pytest.mark.parametrize("script", sorted(SCRIPTS_DIR.glob("*.ps1")), ids=lambda path: path.name)
def test_each_script_file_stays_under_the_line_limit(script):
    assert len(script.read_text(encoding="utf-8").splitlines()) <= SCRIPT_LINE_LIMIT


FACTS_SCHEMA = SCRIPTS_DIR.parent / "facts" / "hyperv_offhost.schema.json"
# The fields host_facts.ps1 writes itself; every other field of the schema is a section a collector returns.
DRIVER_FIELDS = {"schema_version", "collected_at", "probe_duration_ms"}


def test_host_facts_is_a_driver_whose_section_collectors_come_from_includes_once_each():
    driver = (SCRIPTS_DIR / "host_facts.ps1").read_text(encoding="utf-8")
    collectors = dict(re.findall(r"^\$facts\.(\w+) = Invoke-Section \{ (Get-\w+Section) \}$", driver, re.MULTILINE))
    sent = _pwsh.load_script("host_facts").decode("utf-8")
    assert set(collectors) == set(json.loads(FACTS_SCHEMA.read_text(encoding="utf-8"))["properties"]) - DRIVER_FIELDS
    assert [sent.count(f"function {name} ") for name in collectors.values()] == [1] * len(collectors)
    assert not re.findall(r"^function Get-\w+Section ", driver, re.MULTILINE)


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
