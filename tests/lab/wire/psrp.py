"""PSRP over WS-Management ([MS-PSRP] 3.1.5.x), for pypsrp and Ansible's psrp plugin.

A Create on the PowerShell resource URI carries `creationXml`: PSRP fragments opening a
runspace pool. psrpcore's `ServerRunspacePool` does the message layer (fragments,
SessionCapability, InitRunspacePool, state messages); this file carries its payloads over
WSMan: a Command with a CommandId creates a `ServerPipeline` (its first fragment in the
Arguments), Send adds fragments (more of the pipeline, its input), Receive hands back what
psrpcore queued for the pool or for that pipeline. When a pipeline's input is complete its
script is recognised (lab/recognise.py) and run; output strings, error records and, for
`exit N`, the SetShouldExit host call Ansible reads the exit code from, are queued.
"""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from lab.outcome import Outcome, refused
from lab.recognise import plan_script
from lab.wire.shells import SIGNAL_TERMINATE, Operation, Reply, ShellService, receive_reply, receive_response
from lab.wire.streams import StreamBuffer
from lab.wire.wsman import SHELL, Request, WSManFault
from psrpcore import (
    CreatePipelineEvent,
    EndOfPipelineInputEvent,
    PipelineInputEvent,
    PSRPPayload,
    ServerPipeline,
    ServerRunspacePool,
    StreamType,
)
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    HostMethodIdentifier,
    NETException,
    PSInvocationState,
)

RESOURCE_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
_CREATION_XML = "{http://schemas.microsoft.com/powershell}creationXml"
# Largest PSRP payload per Receive chunk: its base64 fits the smallest MaxEnvelopeSize clients send (150 KiB).
_FRAGMENT_BYTES = 96 * 1024
# What Ansible's psrp plugin runs for `PowerShell ... -File <path> <args>`.
_PSRP_FILE_RUNNER = (
    "param([string]$Path, [Parameter(ValueFromRemainingArguments)][string[]]$ScriptArgs) & $Path @ScriptArgs"
)
_CATEGORY = ErrorCategoryInfo(Category=ErrorCategory.NotSpecified, Reason="LabError")


@dataclass
class PsrpPipeline:
    id: str
    server: ServerPipeline
    inputs: list[object] = field(default_factory=list)
    output: StreamBuffer = field(default_factory=lambda: StreamBuffer(("stdout",), split=False))
    ran: bool = False


@dataclass
class PsrpShell:
    id: str
    pool: ServerRunspacePool
    output: StreamBuffer = field(default_factory=lambda: StreamBuffer(("stdout",), split=False))
    pipelines: dict[str, PsrpPipeline] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _pipeline_script(server: ServerPipeline) -> str | Outcome:
    """The script a pipeline runs: `add_script(text)`, or pypsrp's `Invoke-Expression ... | Out-String -Stream`."""
    commands = list(server.metadata.commands) if server.metadata is not None else []
    names = [command.command_text for command in commands]
    if commands and names[-1].lower() == "out-string":
        commands = commands[:-1]  # output here is already strings
    if len(commands) == 1 and commands[0].is_script:
        if commands[0].command_text == _PSRP_FILE_RUNNER:
            target = next((value for _name, value in commands[0].parameters), "?")
            return refused("psrp", f"running the script file {target} (-File) is not emulated")
        return commands[0].command_text
    if len(commands) == 1 and commands[0].command_text.lower() == "invoke-expression":
        for name, value in commands[0].parameters:
            if (name or "").lower() == "command" and isinstance(value, str):
                return value
    return refused("psrp", f"PSRP pipeline of commands {names} is not emulated")


class PsrpService(ShellService[PsrpShell]):
    """The PSRP runspace pools of one emulated host."""

    input_streams = "stdin pr"
    output_streams = "stdout"

    def operate(self, operation: Operation, shell: PsrpShell, request: Request) -> Reply:
        with shell.lock:  # one operation at a time per runspace pool: each one changes its psrpcore state
            return operation(shell, request)

    # psrpcore in, psrpcore out

    def _feed(self, shell: PsrpShell, data: bytes, pipeline_id: str | None) -> str | None:
        """Give fragments to psrpcore, act on the events, queue the replies; returns what ran."""
        shell.pool.receive_data(PSRPPayload(data, StreamType.default, uuid.UUID(pipeline_id) if pipeline_id else None))
        handled_by = None
        while (event := shell.pool.next_event()) is not None:
            pipeline = shell.pipelines.get(str(event.pipeline_id).upper()) if event.pipeline_id else None
            if pipeline is None:
                continue
            if isinstance(event, PipelineInputEvent):
                pipeline.inputs.append(event.data)
            is_ready = isinstance(event, EndOfPipelineInputEvent) or (
                isinstance(event, CreatePipelineEvent) and event.pipeline.no_input
            )
            if is_ready and not pipeline.ran:
                handled_by = self._run(pipeline)
        self._drain(shell)
        return handled_by

    def _drain(self, shell: PsrpShell) -> None:
        while (payload := shell.pool.data_to_send(_FRAGMENT_BYTES)) is not None:
            target = shell.pipelines.get(str(payload.pipeline_id).upper()) if payload.pipeline_id else None
            (target or shell).output.add("stdout", payload.data)
        for pipeline in shell.pipelines.values():
            if pipeline.ran and not pipeline.output.finished:
                pipeline.output.finish(0)  # all its messages are queued: Receive may report Done

    def _run(self, pipeline: PsrpPipeline) -> str:
        pipeline.ran = True
        server = pipeline.server
        script = _pipeline_script(server)
        if not isinstance(script, Outcome) and not all(isinstance(item, str) for item in pipeline.inputs):
            kinds = sorted({type(item).__name__ for item in pipeline.inputs})
            script = refused("psrp", f"pipeline input other than strings ({', '.join(kinds)}) is not emulated")
        lines = [item for item in pipeline.inputs if isinstance(item, str)]
        outcome = script if isinstance(script, Outcome) else plan_script(self.context, script).run(lines)
        server.start()
        for line in outcome.output:
            server.write_output(line)
        messages = outcome.console_errors + outcome.errors
        terminating = messages.pop() if outcome.failed and messages else None
        for message in messages:
            server.write_error(NETException(Message=message), _CATEGORY, fully_qualified_error_id="LabError")
        host_info = server.metadata.host if server.metadata is not None else None
        if outcome.exit_code is not None and host_info is not None and not host_info.IsHostNull:
            server.host_call(HostMethodIdentifier.SetShouldExit, [outcome.exit_code])
        if terminating is None:
            server.complete()
        else:
            # A throw ends the pipeline Failed with the error in its state message; psrpcore has
            # no public call for that, so use the state change its complete()/stop() use.
            record = ErrorRecord(
                Exception=NETException(Message=terminating), CategoryInfo=_CATEGORY, FullyQualifiedErrorId="LabError"
            )
            server._change_state(PSInvocationState.Failed, error=record)
        return outcome.handled_by

    # WSMan operations

    def open(self, request: Request) -> PsrpShell:
        creation = request.body.find(_CREATION_XML) if request.body is not None else None
        if creation is None or not creation.text:
            raise WSManFault("w:InvalidParameter", "The PSRP Create request has no creationXml.")
        shell = PsrpShell((request.body.get("ShellId") or str(uuid.uuid4())).upper(), ServerRunspacePool())
        with shell.lock:
            self._feed(shell, base64.b64decode(creation.text), None)
        return shell

    def start(self, shell: PsrpShell, request: Request, line: ET.Element, command_id: str) -> dict[str, Any]:
        pipeline = PsrpPipeline(command_id, ServerPipeline(shell.pool, uuid.UUID(command_id)))
        shell.pipelines[command_id] = pipeline
        handled_by = None
        for argument in line.findall("rsp:Arguments", {"rsp": SHELL}):
            handled_by = self._feed(shell, base64.b64decode(argument.text or ""), command_id) or handled_by
        log: dict[str, Any] = {"shell": shell.id, "command": command_id}
        if handled_by:
            log["handled_by"] = handled_by
        return log

    def take_input(
        self, shell: PsrpShell, log: dict[str, Any], name: str, data: bytes, command_id: str | None, end: bool
    ) -> None:
        if command_id:
            log["command"] = command_id
        handled_by = self._feed(shell, data, command_id.upper() if command_id else None)
        if handled_by:
            log["handled_by"] = handled_by

    def receive(self, shell: PsrpShell, request: Request, streams: tuple[str, ...], command_id: str | None) -> Reply:
        target = shell.pipelines.get(command_id.upper()) if command_id else shell
        if target is None:
            raise WSManFault("w:InvalidSelectors", f"The PSRP pipeline {command_id} was not found in shell {shell.id}.")
        # Waiting holds the shell lock: PSRP clients do not Send while they Receive on one pool.
        chunks, done = target.output.take(request, streams)
        done = done and isinstance(target, PsrpPipeline)
        response = receive_response(command_id.upper() if command_id else None, chunks, done, 0, streams)
        return receive_reply(response, {"shell": shell.id, "command": command_id})

    def signal(self, shell: PsrpShell, command_id: str | None, code: str) -> None:
        if code == SIGNAL_TERMINATE or code.endswith("crtl_c"):
            pipeline = shell.pipelines.pop((command_id or "").upper(), None)
            if pipeline is not None:
                shell.pool.pipeline_table.pop(pipeline.server.pipeline_id, None)
