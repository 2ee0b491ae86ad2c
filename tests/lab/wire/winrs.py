"""The WinRS shell (`.../windows/shell/cmd`): what pywinrm and Ansible's winrm plugin use.

Each Command's command line is planned when it arrives (recognise.py). A command that reads
no input runs at once; one that reads stdin (the collection's bootstrap, Ansible's file
transfers) collects Send chunks until `End="true"` and runs then. Its stdout, stderr and exit
code wait in a StreamBuffer for Receive. Signal `terminate` forgets the command; Delete the
shell (shells.py: what WinRS shares with PSRP).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from lab.outcome import Outcome
from lab.recognise import Plan, input_lines, plan_command_line
from lab.wire.shells import Reply, ShellService, receive_reply, receive_response
from lab.wire.streams import StreamBuffer
from lab.wire.wsman import SHELL, Request, WSManFault

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

    def command(self, command_id: str | None) -> WinrsCommand:
        command = self.commands.get((command_id or "").upper())
        if command is None:
            raise WSManFault(
                "w:InvalidSelectors",
                f"The request for the Windows Remote Shell with ShellId {self.id} failed because the command "
                f"with CommandId {command_id} was not found.",
            )
        return command


class WinrsService(ShellService[WinrsShell]):
    """The WinRS shells of one emulated host."""

    input_streams = "stdin"
    output_streams = "stdout stderr"

    def open(self, request: Request) -> WinrsShell:
        return WinrsShell(str(uuid.uuid4()).upper())

    def start(self, shell: WinrsShell, request: Request, line: ET.Element, command_id: str) -> dict[str, Any]:
        parts = [line.findtext("rsp:Command", "", _NS) or ""]
        parts += [argument.text or "" for argument in line.findall("rsp:Arguments", _NS)]
        command_line = " ".join(part for part in parts if part)
        skip_cmd_shell = request.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        command = WinrsCommand(command_id, command_line, plan_command_line(self.context, command_line, skip_cmd_shell))
        shell.commands[command_id] = command
        log: dict[str, Any] = {"shell": shell.id, "command": command_id, "command_line_length": len(command_line)}
        if not command.plan.reads_input:
            log["handled_by"] = command.run(b"")
        return log

    def take_input(
        self, shell: WinrsShell, log: dict[str, Any], name: str, data: bytes, command_id: str | None, end: bool
    ) -> None:
        command = shell.command(command_id)
        log["command"] = command.id
        if name != "stdin" or command.output.finished:
            return  # input to a finished command goes nowhere, as on Windows
        command.stdin += data
        if end:
            log["handled_by"] = command.run(bytes(command.stdin))

    def receive(self, shell: WinrsShell, request: Request, streams: tuple[str, ...], command_id: str | None) -> Reply:
        command = shell.command(command_id)
        chunks, done = command.output.take(request, streams)
        response = receive_response(command.id, chunks, done, command.output.exit_code, streams)
        log = {"shell": shell.id, "command": command.id, "done": done}
        if done:
            log["exit_code"] = command.output.exit_code
        return receive_reply(response, log)

    def signal(self, shell: WinrsShell, command_id: str | None, code: str) -> None:
        shell.command(command_id)  # an unknown command is a fault, whatever the signal
        shell.commands.pop((command_id or "").upper(), None)
