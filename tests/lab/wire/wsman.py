"""SOAP envelopes of WS-Management ([MS-WSMV]): read a request, write a response or a fault.

A request is reduced to a `Request` (action, resource URI, selectors, options, body element);
a reply is the body element wrapped in an envelope whose RelatesTo names the request's
MessageID, as Windows' WinRM service answers. Faults follow [MS-WSMV] 2.2.4.x / 3.1.4.x:
a SOAP 1.2 Fault with a WS-Management subcode and a `WSManFault` detail carrying the
Windows error code clients (pywinrm, pypsrp) read.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_CREATE = f"{TRANSFER}/Create"
ACTION_DELETE = f"{TRANSFER}/Delete"
ACTION_COMMAND = f"{SHELL}/Command"
ACTION_SEND = f"{SHELL}/Send"
ACTION_RECEIVE = f"{SHELL}/Receive"
ACTION_SIGNAL = f"{SHELL}/Signal"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

# Windows error codes carried in WSManFault/@Code (winerror.h, ERROR_WSMAN_*).
CODE_INVALID_SELECTORS = 2150858843  # 0x8033805B: shell not found
CODE_OPERATION_TIMEOUT = 2150858793  # 0x80338029: Receive found no output in time
CODE_ACTION_NOT_SUPPORTED = 2150858771  # 0x80338013
CODE_INVALID_RESOURCE_URI = 2150858811  # 0x8033803B


def q(prefix: str, local: str) -> str:
    """Clark notation for `prefix:local`."""
    return f"{{{NS[prefix]}}}{local}"


@dataclass
class Request:
    """The parts of a WS-Management request the lab routes on."""

    action: str
    resource_uri: str
    message_id: str
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None
    operation_timeout: float = 20.0
    max_envelope_size: int = 153600

    @property
    def max_stream_bytes(self) -> int:
        """Raw stream bytes one response may carry: base64 of them must fit in the envelope."""
        return max(1024, (self.max_envelope_size - 4096) * 3 // 4)

    @property
    def shell_id(self) -> str | None:
        return self.selectors.get("ShellId")


class WSManFault(Exception):
    """A fault the lab answers with HTTP 500, in the shape Windows uses."""

    def __init__(self, subcode: str, reason: str, code: int | None = None, sender: bool = True) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.code = code
        self.sender = sender


def shell_not_found(shell_id: str) -> WSManFault:
    return WSManFault(
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation.",
        CODE_INVALID_SELECTORS,
    )


def action_not_supported(action: str) -> WSManFault:
    return WSManFault(
        "a:ActionNotSupported",
        f"The WS-Management service cannot process the request because the action {action} is not supported "
        "for this resource.",
        CODE_ACTION_NOT_SUPPORTED,
    )


def unknown_resource(resource_uri: str) -> WSManFault:
    return WSManFault(
        "w:DestinationUnreachable",
        f"The WS-Management service cannot process the request. The resource URI {resource_uri} was not found "
        "(the lab serves WinRS cmd and Microsoft.PowerShell only).",
        CODE_INVALID_RESOURCE_URI,
    )


def operation_timeout() -> WSManFault:
    return WSManFault(
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
        CODE_OPERATION_TIMEOUT,
        sender=False,
    )


def _parse_duration(text: str | None) -> float:
    """xs:duration of the simple form WinRM clients send (`PT20S`, `PT20.000S`)."""
    if not text or not text.startswith("PT") or not text.endswith("S"):
        return 20.0
    try:
        return float(text[2:-1])
    except ValueError:
        return 20.0


def _parse_int(text: str | None, default: int) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


def parse_request(data: bytes) -> Request:
    """Read the header fields and body of a SOAP request; a malformed one is a fault."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise WSManFault("w:SchemaValidationError", f"The SOAP XML in the message is not valid: {exc}") from exc
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise WSManFault("w:SchemaValidationError", "The SOAP message has no Header or Body.")
    return Request(
        action=(header.findtext("a:Action", "", NS) or "").strip(),
        resource_uri=(header.findtext("w:ResourceURI", "", NS) or "").strip(),
        message_id=(header.findtext("a:MessageID", "", NS) or "").strip(),
        selectors={s.get("Name", ""): (s.text or "") for s in header.findall("w:SelectorSet/w:Selector", NS)},
        options={o.get("Name", ""): (o.text or "") for o in header.findall("w:OptionSet/w:Option", NS)},
        body=body[0] if len(body) else None,
        operation_timeout=_parse_duration(header.findtext("w:OperationTimeout", None, NS)),
        max_envelope_size=_parse_int(header.findtext("w:MaxEnvelopeSize", None, NS), 153600),
    )


def envelope(action: str, relates_to: str, body: ET.Element | list[ET.Element] | None) -> bytes:
    """A response envelope around `body` (one element, several, or none)."""
    root = ET.Element(q("s", "Envelope"))
    header = ET.SubElement(root, q("s", "Header"))
    ET.SubElement(header, q("a", "Action")).text = action
    ET.SubElement(header, q("a", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, q("a", "To")).text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    ET.SubElement(header, q("a", "RelatesTo")).text = relates_to
    body_element = ET.SubElement(root, q("s", "Body"))
    for element in [body] if isinstance(body, ET.Element) else body or []:
        body_element.append(element)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def fault_envelope(fault: WSManFault, relates_to: str, machine: str) -> bytes:
    """The SOAP fault Windows sends for `fault`."""
    element = ET.Element(q("s", "Fault"))
    code = ET.SubElement(element, q("s", "Code"))
    ET.SubElement(code, q("s", "Value")).text = "s:Sender" if fault.sender else "s:Receiver"
    subcode = ET.SubElement(code, q("s", "Subcode"))
    ET.SubElement(subcode, q("s", "Value")).text = fault.subcode
    reason = ET.SubElement(element, q("s", "Reason"))
    text = ET.SubElement(reason, q("s", "Text"))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    text.text = fault.reason
    detail = ET.SubElement(element, q("s", "Detail"))
    wsman_fault = ET.SubElement(detail, q("f", "WSManFault"), {"Machine": machine})
    if fault.code is not None:
        wsman_fault.set("Code", str(fault.code))
    ET.SubElement(wsman_fault, q("f", "Message")).text = fault.reason
    return envelope(FAULT_ACTION, relates_to, element)
