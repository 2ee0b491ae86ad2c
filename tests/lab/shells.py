"""What WinRS shells and PSRP runspace pools share on the wire ([MS-WSMV] 3.1.4.x).

A shell is created (Create), runs commands (Command), takes input (Send), hands back output
(Receive: base64 stream chunks sized to the client's MaxEnvelopeSize, then the command's
state and exit code), is signalled (Signal) and deleted (Delete). The lab computes a
command's whole output when it runs, so Receive either has data at once or waits for the
command's input to finish, up to the request's OperationTimeout, then faults w:TimedOut as
Windows does.
"""

from __future__ import annotations

import base64
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from lab.wsman import SHELL, TRANSFER, Request, WSManFault, operation_timeout, q

STATE_DONE = f"{SHELL}/CommandState/Done"
STATE_RUNNING = f"{SHELL}/CommandState/Running"
SIGNAL_TERMINATE = f"{SHELL}/signal/terminate"
# Receive waits at most this long even when the client allows more: keeps `lab down` prompt.
_MAX_WAIT = 30.0


@dataclass
class Reply:
    """A successful response: its action, body elements, and fields for the request log."""

    action: str
    body: list[ET.Element] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)


class StreamBuffer:
    """Output a command has produced and the client has not received yet.

    WinRS streams are bytes and may be cut anywhere (`split=True`); PSRP streams are whole
    PSRP fragments, which a client must receive intact, so they are handed out whole.
    """

    def __init__(self, names: tuple[str, ...], split: bool = True) -> None:
        self.pending: dict[str, list[bytes]] = {name: [] for name in names}
        self.split = split
        self.finished = False  # the command produced all its output
        self.exit_code: int | None = None
        self.ready = threading.Condition()

    def add(self, name: str, data: bytes) -> None:
        if not data:
            return
        with self.ready:
            self.pending[name].append(data)
            self.ready.notify_all()

    def finish(self, exit_code: int | None) -> None:
        with self.ready:
            self.finished = True
            self.exit_code = exit_code
            self.ready.notify_all()

    def _has_data(self) -> bool:
        return any(self.pending.values())

    def _take_stream(self, chunks: list[bytes], budget: int, first: bool) -> bytes:
        taken = bytearray()
        while chunks and budget > 0:
            chunk = chunks[0]
            if len(chunk) <= budget or (not self.split and first and not taken):
                taken += chunks.pop(0)
                budget -= len(chunk)
            elif self.split:
                taken += chunk[:budget]
                chunks[0] = chunk[budget:]
                budget = 0
            else:
                break
        return bytes(taken)

    def take(self, request: Request, wanted: tuple[str, ...]) -> tuple[list[tuple[str, bytes]], bool]:
        """Chunks for one Receive and whether the command is done; faults when nothing came in time."""
        with self.ready:
            if not self.ready.wait_for(
                lambda: self._has_data() or self.finished, min(request.operation_timeout, _MAX_WAIT)
            ):
                raise operation_timeout()
            budget = request.max_stream_bytes
            result = []
            for name in wanted:
                data = self._take_stream(self.pending.get(name, []), budget, first=not result)
                if data:
                    result.append((name, data))
                    budget -= len(data)
            return result, self.finished and not self._has_data()


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
