"""What WinRS shells and PSRP runspace pools share on the wire ([MS-WSMV] 3.1.4.x).

A shell is created (Create), runs commands (Command), takes input (Send), hands back output
(Receive: base64 stream chunks sized to the client's MaxEnvelopeSize, then the command's
state and exit code), is signalled (Signal) and deleted (Delete). The lab computes a
command's whole output when it runs, so Receive either has data at once or waits for the
command's input to finish, up to the request's OperationTimeout, then faults w:TimedOut as
Windows does.

`ShellService` is the part both services share: routing an operation to its shell (an unknown
ShellId is the `w:InvalidSelectors` fault Windows gives, an unknown action
`a:ActionNotSupported`), Create's and Delete's answers, and Signal's. winrs.py and psrp.py say
what a shell is and what Command, Send, Receive and a Signal do in it.
"""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from lab.context import HostContext
from lab.wire.wsman import (
    ACTION_COMMAND,
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_RECEIVE,
    ACTION_SEND,
    ACTION_SIGNAL,
    SHELL,
    TRANSFER,
    Request,
    WSManFault,
    action_not_supported,
    q,
    shell_not_found,
)

STATE_DONE = f"{SHELL}/CommandState/Done"
STATE_RUNNING = f"{SHELL}/CommandState/Running"
SIGNAL_TERMINATE = f"{SHELL}/signal/terminate"


@dataclass
class Reply:
    """A successful response: its action, body elements, and fields for the request log."""

    action: str
    body: list[ET.Element] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)


def desired_streams(request: Request) -> tuple[tuple[str, ...], str | None]:
    """The DesiredStream names of a Receive and its CommandId (None: the shell itself)."""
    element = request.body.find("rsp:DesiredStream", {"rsp": SHELL}) if request.body is not None else None
    if element is None:
        raise WSManFault("w:InvalidParameter", "The Receive request has no DesiredStream.")
    return tuple((element.text or "").split()), element.get("CommandId")


def receive_response(
    command_id: str | None, chunks: list[tuple[str, bytes]], done: bool, exit_code: int | None, streams: tuple[str, ...]
) -> ET.Element:
    response = ET.Element(q("rsp", "ReceiveResponse"))
    for name, data in chunks:
        stream = ET.SubElement(response, q("rsp", "Stream"), {"Name": name})
        if command_id:
            stream.set("CommandId", command_id)
        stream.text = base64.b64encode(data).decode()
    if done:
        for name in streams:
            end = ET.SubElement(response, q("rsp", "Stream"), {"Name": name, "End": "true"})
            if command_id:
                end.set("CommandId", command_id)
    if command_id:
        state = ET.SubElement(response, q("rsp", "CommandState"), {"CommandId": command_id})
        state.set("State", STATE_DONE if done else STATE_RUNNING)
        if done:
            ET.SubElement(state, q("rsp", "ExitCode")).text = str(exit_code if exit_code is not None else 0)
    return response


def created_response(
    request: Request, endpoint: str, shell_id: str, input_streams: str, output_streams: str, owner: str, client_ip: str
) -> list[ET.Element]:
    """ResourceCreated (the shell's address and ShellId selector) and the shell's properties."""
    created = ET.Element(q("x", "ResourceCreated"))
    ET.SubElement(created, q("a", "Address")).text = endpoint
    reference = ET.SubElement(created, q("a", "ReferenceParameters"))
    ET.SubElement(reference, q("w", "ResourceURI")).text = request.resource_uri
    selectors = ET.SubElement(reference, q("w", "SelectorSet"))
    ET.SubElement(selectors, q("w", "Selector"), {"Name": "ShellId"}).text = shell_id
    shell = ET.Element(q("rsp", "Shell"))
    for name, value in (
        ("ShellId", shell_id),
        ("ResourceUri", request.resource_uri),
        ("Owner", owner),
        ("ClientIP", client_ip),
        ("IdleTimeOut", "PT7200.000S"),
        ("InputStreams", input_streams),
        ("OutputStreams", output_streams),
    ):
        ET.SubElement(shell, q("rsp", name)).text = value
    return [created, shell]


def send_streams(request: Request) -> list[tuple[str, bytes, str | None, bool]]:
    """The (name, data, CommandId, End) of each stream in a Send body."""
    if request.body is None:
        raise WSManFault("w:InvalidParameter", "The Send request has no body.")
    streams = []
    for stream in request.body.findall("rsp:Stream", {"rsp": SHELL}):
        data = base64.b64decode(stream.text or "")
        end = (stream.get("End") or "").lower() == "true"
        streams.append((stream.get("Name", ""), data, stream.get("CommandId"), end))
    return streams


def signal_code(request: Request) -> tuple[str | None, str]:
    element = request.body
    if element is None:
        raise WSManFault("w:InvalidParameter", "The Signal request has no body.")
    return element.get("CommandId"), (element.findtext("rsp:Code", "", {"rsp": SHELL}) or "").strip()


def rsp_element(name: str) -> ET.Element:
    """An empty response element such as rsp:SendResponse."""
    return ET.Element(q("rsp", name))


def command_response(command_id: str) -> ET.Element:
    response = ET.Element(q("rsp", "CommandResponse"))
    ET.SubElement(response, q("rsp", "CommandId")).text = command_id
    return response


DELETE_RESPONSE = f"{TRANSFER}/DeleteResponse"
CREATE_RESPONSE = f"{TRANSFER}/CreateResponse"


def receive_reply(response: ET.Element, log: dict[str, Any]) -> Reply:
    return Reply(f"{SHELL}/ReceiveResponse", [response], log)


class Shell(Protocol):
    id: str


ShellT = TypeVar("ShellT", bound=Shell)
Operation = Callable[[ShellT, Request], Reply]


class ShellService(Generic[ShellT]):
    """The shells of one emulated host on one resource URI; a subclass says what a shell does."""

    input_streams = "stdin"  # what Create's answer lists
    output_streams = "stdout"

    def __init__(self, context: HostContext, endpoint: str) -> None:
        self.context = context
        self.endpoint = endpoint
        self.shells: dict[str, ShellT] = {}
        self.lock = threading.Lock()

    def handle(self, request: Request, client_ip: str) -> Reply:
        if request.action == ACTION_CREATE:
            return self._create(request, client_ip)
        operations: dict[str, Operation] = {
            ACTION_COMMAND: self._command,
            ACTION_SEND: self._send,
            ACTION_RECEIVE: self._receive,
            ACTION_SIGNAL: self._signal,
            ACTION_DELETE: self._delete,
        }
        operation = operations.get(request.action)
        if operation is None:
            raise action_not_supported(request.action)
        return self.operate(operation, self._shell(request), request)

    def operate(self, operation: Operation, shell: ShellT, request: Request) -> Reply:
        """Run one operation in its shell (PSRP runs them one at a time per shell)."""
        return operation(shell, request)

    def _shell(self, request: Request) -> ShellT:
        shell_id = request.shell_id or ""
        with self.lock:
            shell = self.shells.get(shell_id.upper())
        if shell is None:
            raise shell_not_found(shell_id)
        return shell

    def _create(self, request: Request, client_ip: str) -> Reply:
        shell = self.open(request)
        with self.lock:
            self.shells[shell.id] = shell
        owner = self.context.host.username
        body = created_response(
            request, self.endpoint, shell.id, self.input_streams, self.output_streams, owner, client_ip
        )
        return Reply(CREATE_RESPONSE, body, {"shell": shell.id})

    def _command(self, shell: ShellT, request: Request) -> Reply:
        line = request.body
        if line is None or line.tag != q("rsp", "CommandLine"):
            raise WSManFault("w:InvalidParameter", "The Command request has no CommandLine.")
        command_id = (line.get("CommandId") or str(uuid.uuid4())).upper()
        log = self.start(shell, request, line, command_id)
        return Reply(f"{SHELL}/CommandResponse", [command_response(command_id)], log)

    def _send(self, shell: ShellT, request: Request) -> Reply:
        log: dict[str, Any] = {"shell": shell.id}
        for name, data, command_id, end in send_streams(request):
            self.take_input(shell, log, name, data, command_id, end)
        return Reply(f"{SHELL}/SendResponse", [rsp_element("SendResponse")], log)

    def _receive(self, shell: ShellT, request: Request) -> Reply:
        streams, command_id = desired_streams(request)
        return self.receive(shell, request, streams, command_id)

    def _signal(self, shell: ShellT, request: Request) -> Reply:
        command_id, code = signal_code(request)
        self.signal(shell, command_id, code)
        log = {"shell": shell.id, "command": command_id, "signal": code.rsplit("/", 1)[-1]}
        return Reply(f"{SHELL}/SignalResponse", [rsp_element("SignalResponse")], log)

    def _delete(self, shell: ShellT, request: Request) -> Reply:
        with self.lock:
            self.shells.pop(shell.id, None)
        return Reply(DELETE_RESPONSE, [], {"shell": shell.id})

    # What a subclass says.

    def open(self, request: Request) -> ShellT:
        """A new shell for a Create request (its id upper-case)."""
        raise NotImplementedError

    def start(self, shell: ShellT, request: Request, line: ET.Element, command_id: str) -> dict[str, Any]:
        """Start the command of a Command request's CommandLine; returns the fields for the request log."""
        raise NotImplementedError

    def take_input(
        self, shell: ShellT, log: dict[str, Any], name: str, data: bytes, command_id: str | None, end: bool
    ) -> None:
        """One stream of a Send request (`end`: the client's last input); note in `log` what it did."""
        raise NotImplementedError

    def receive(self, shell: ShellT, request: Request, streams: tuple[str, ...], command_id: str | None) -> Reply:
        raise NotImplementedError

    def signal(self, shell: ShellT, command_id: str | None, code: str) -> None:
        """What the signal `code` does to the command `command_id` of `shell`."""
        raise NotImplementedError
