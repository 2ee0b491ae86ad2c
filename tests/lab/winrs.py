"""The WinRS shell (`.../windows/shell/cmd`): what pywinrm and Ansible's winrm plugin use.

Each Command's command line is planned when it arrives (recognise.py). A command that reads
no input runs at once; one that reads stdin (the collection's bootstrap, Ansible's file
transfers) collects Send chunks until `End="true"` and runs then. Its stdout, stderr and exit
code wait in a StreamBuffer for Receive. Signal `terminate` forgets the command; Delete the
shell. An unknown ShellId is the `w:InvalidSelectors` fault Windows gives.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from lab.context import HostContext
from lab.outcome import Outcome
from lab.recognise import Plan, input_lines, plan_command_line
from lab.shells import (
    CREATE_RESPONSE,
    DELETE_RESPONSE,
    Reply,
    StreamBuffer,
    command_response,
    created_response,
    desired_streams,
    receive_response,
    rsp_element,
    send_streams,
    signal_code,
)
from lab.wsman import (
    ACTION_COMMAND,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_RECEIVE,
    ACTION_SEND,
    ACTION_SIGNAL,
    SHELL,
    Request,
    WSManFault,
    action_not_supported,
    q,
    shell_not_found,
)

RESOURCE_URI = f"{SHELL}/cmd"
_NS = {"rsp": SHELL}


@dataclass
class WinrsCommand:
    id: str
    line: str
    plan: Plan
    stdin: bytearray = field(default_factory=bytearray)
    output: StreamBuffer = field(default_factory=lambda: StreamBuffer(("stdout", "stderr")))
    handled_by: str = ""

    def run(self, data: bytes) -> str:
        outcome: Outcome = self.plan.run(input_lines(data))
        self.output.add("stdout", outcome.winrs_stdout())
        self.output.add("stderr", outcome.winrs_stderr())
        self.output.finish(outcome.rc)
        self.handled_by = outcome.handled_by
        return outcome.handled_by


@dataclass
class WinrsShell:
    id: str
    commands: dict[str, WinrsCommand] = field(default_factory=dict)


class WinrsService:
    """The WinRS shells of one emulated host."""

    def __init__(self, context: HostContext, endpoint: str) -> None:
        self.context = context
        self.endpoint = endpoint
        self.shells: dict[str, WinrsShell] = {}
        self.lock = threading.Lock()

    def handle(self, request: Request, client_ip: str) -> Reply:
        if request.action == ACTION_CREATE:
            return self._create(request, client_ip)
        operations = {
            ACTION_COMMAND: self._command,
            ACTION_SEND: self._send,
            ACTION_RECEIVE: self._receive,
            ACTION_SIGNAL: self._signal,
            ACTION_DELETE: self._delete,
        }
        operation = operations.get(request.action)
        if operation is None:
            raise action_not_supported(request.action)
        return operation(request)

    def _shell(self, request: Request) -> WinrsShell:
        shell_id = request.shell_id or ""
        with self.lock:
            shell = self.shells.get(shell_id.upper())
        if shell is None:
            raise shell_not_found(shell_id)
        return shell

    @staticmethod
    def _command_of(shell: WinrsShell, command_id: str | None) -> WinrsCommand:
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise WSManFault(
                "w:InvalidSelectors",
                f"The request for the Windows Remote Shell with ShellId {shell.id} failed because the command "
                f"with CommandId {command_id} was not found.",
            )
        return command

    def _create(self, request: Request, client_ip: str) -> Reply:
        shell_id = str(uuid.uuid4()).upper()
        with self.lock:
            self.shells[shell_id] = WinrsShell(shell_id)
        body = created_response(
            request, self.endpoint, shell_id, "stdin", "stdout stderr", self.context.host.username, client_ip
        )
        return Reply(CREATE_RESPONSE, body, {"shell": shell_id})

    def _command(self, request: Request) -> Reply:
        shell = self._shell(request)
        line_element = request.body
        if line_element is None or line_element.tag != q("rsp", "CommandLine"):
            raise WSManFault("w:InvalidParameter", "The Command request has no CommandLine.")
        parts = [line_element.findtext("rsp:Command", "", _NS) or ""]
        parts += [argument.text or "" for argument in line_element.findall("rsp:Arguments", _NS)]
        line = " ".join(part for part in parts if part)
        skip_cmd_shell = request.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        command_id = (line_element.get("CommandId") or str(uuid.uuid4())).upper()
        command = WinrsCommand(command_id, line, plan_command_line(self.context, line, skip_cmd_shell))
        shell.commands[command_id] = command
        log = {"shell": shell.id, "command": command_id, "command_line_length": len(line)}
        if not command.plan.reads_input:
            log["handled_by"] = command.run(b"")
        response = command_response(command_id)
        return Reply(f"{SHELL}/CommandResponse", [response], log)

    def _send(self, request: Request) -> Reply:
        shell = self._shell(request)
        log: dict[str, object] = {"shell": shell.id}
        for name, data, command_id, end in send_streams(request):
            command = self._command_of(shell, command_id)
            log["command"] = command.id
            if name != "stdin" or command.output.finished:
                continue  # input to a finished command goes nowhere, as on Windows
            command.stdin += data
            if end:
                log["handled_by"] = command.run(bytes(command.stdin))
        return Reply(f"{SHELL}/SendResponse", [rsp_element("SendResponse")], log)

    def _receive(self, request: Request) -> Reply:
        shell = self._shell(request)
        streams, command_id = desired_streams(request)
        command = self._command_of(shell, command_id)
        chunks, done = command.output.take(request, streams)
        response = receive_response(command.id, chunks, done, command.output.exit_code, streams)
        log = {"shell": shell.id, "command": command.id, "done": done}
        if done:
            log["exit_code"] = command.output.exit_code
        return Reply(f"{SHELL}/ReceiveResponse", [response], log)

    def _signal(self, request: Request) -> Reply:
        shell = self._shell(request)
        command_id, code = signal_code(request)
        self._command_of(shell, command_id)
        shell.commands.pop((command_id or "").upper(), None)
        return Reply(
            f"{SHELL}/SignalResponse",
            [rsp_element("SignalResponse")],
            {"shell": shell.id, "command": command_id, "signal": code.rsplit("/", 1)[-1]},
        )

    def _delete(self, request: Request) -> Reply:
        shell = self._shell(request)
        with self.lock:
            self.shells.pop(shell.id, None)
        return Reply(DELETE_RESPONSE, [], {"shell": shell.id})
