"""The HTTP side: one threaded server per emulated host on its loopback address.

Each request is authenticated against the host's credentials: HTTP basic on every request, or
NTLM once per connection with encrypted messages (ntlm.py); otherwise 401 offering both, like
Windows. The body is parsed as a WS-Management envelope and routed by resource URI to the
host's WinRS or PSRP service. A WSManFault becomes HTTP 500 with the SOAP fault (encrypted when
the request was); every request is logged.

Fault injection (docs/lab.md, "Dropping requests"): while the host's `fault.json` (written by `lab
fault`) asks for it, a WS-Management request is read, then its connection is closed without an
answer, as a network drop or a restarting WinRM service does; the clients see no reply at all.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab.context import HostContext
from lab.wire import ntlm, psrp, winrs
from lab.wire.ntlm import NtlmError, NtlmSession, write_user_file
from lab.wire.requestlog import RequestLog
from lab.wire.shells import Reply
from lab.wire.wsman import WSManFault, envelope, fault_envelope, parse_request, unknown_resource

WSMAN_PATH = "/wsman"
FAULT_FILE = "fault.json"  # in the host's directory: {"drop": N, "operation": "Command" or null}
_TRANSPORTS = {winrs.RESOURCE_URI: "winrs", psrp.RESOURCE_URI: "psrp"}


class HostServer(ThreadingHTTPServer):
    """The WS-Management endpoint of one emulated host."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context: HostContext, port: int, log: RequestLog) -> None:
        super().__init__((context.host.address, port), WSManHandler)
        self.context = context
        self.log = log
        self.port = self.server_address[1]
        endpoint = f"http://{context.host.address}:{self.port}{WSMAN_PATH}"
        self.ntlm_user_file = context.host_dir / "ntlm-user"
        self.fault_file = context.host_dir / FAULT_FILE
        self.fault_file.unlink(missing_ok=True)  # a fault never outlives the lab that was told it
        self._fault_lock = threading.Lock()
        write_user_file(self.ntlm_user_file, context.host.username, context.host.password)
        self.services = {
            winrs.RESOURCE_URI: winrs.WinrsService(context, endpoint),
            psrp.RESOURCE_URI: psrp.PsrpService(context, endpoint),
        }

    def start(self) -> threading.Thread:
        # A short poll interval keeps shutdown() (which waits for the loop to notice) fast.
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=f"lab-{self.context.host.name}", daemon=True
        )
        thread.start()
        return thread

    def take_drop(self, operation: str) -> bool:
        """True when the fault asks to drop this request: counts it off the fault's `drop`."""
        with self._fault_lock:
            try:
                fault = json.loads(self.fault_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            if int(fault.get("drop") or 0) <= 0 or fault.get("operation") not in (None, operation):
                return False
            write_fault(self.fault_file, int(fault["drop"]) - 1, fault.get("operation"))
            return True

    def basic_authorised(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        host = self.context.host
        # Windows account names compare case-insensitively; passwords do not.
        return username.lower() == host.username.lower() and password == host.password


def write_fault(path: Path, drop: int, operation: str | None = None) -> None:
    """Ask the host's server to drop its next `drop` requests (of `operation` only, when given)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"drop": drop, "operation": operation}) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # the server never reads half a file


class WSManHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: otherwise Nagle + delayed ACK add ~40 ms a request.
    disable_nagle_algorithm = True
    wbufsize = -1
    server: HostServer
    ntlm: NtlmSession | None = None  # per connection: NTLM authenticates the TCP connection
    final_token: str | None = None  # SPNEGO's last token, sent with the first answer after the handshake

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        if self.final_token is not None:
            self.send_header("WWW-Authenticate", self.final_token)
            self.final_token = None
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _log(self, **fields: object) -> None:
        context = self.server.context
        self.server.log.write(host=context.host.name, address=context.host.address, port=self.server.port, **fields)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0].rstrip("/").lower() != WSMAN_PATH:
            self._send(HTTPStatus.NOT_FOUND, b"")
            return
        authorization = self.headers.get("Authorization") or ""
        if authorization.lower().startswith(("negotiate ", "ntlm ")):
            if not self._ntlm_step(authorization):
                return
        elif not self.server.basic_authorised(authorization) and not (self.ntlm and self.ntlm.complete):
            self._refuse()
            return
        if not data:
            self._send(HTTPStatus.OK, b"")  # pywinrm and pypsrp authenticate with an empty POST first
            return
        self._answer(data)

    def _refuse(self, reason: str | None = None) -> None:
        self.ntlm = None
        self._log(transport="-", operation="auth", status=401, **({"reason": reason} if reason else {}))
        challenges = [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", 'Basic realm="WSMAN"')]
        self._send(HTTPStatus.UNAUTHORIZED, b"", challenges)

    def _ntlm_step(self, authorization: str) -> bool:
        """One NTLM handshake step; True once the connection is authenticated."""
        if self.ntlm is None or self.ntlm.complete:
            self.ntlm = NtlmSession(self.server.ntlm_user_file, self.server.context.host.username)
        try:
            answer = self.ntlm.step(authorization)
        except NtlmError as exc:
            self._refuse(str(exc))
            return False
        if not self.ntlm.complete:
            self._send(HTTPStatus.UNAUTHORIZED, b"", [("WWW-Authenticate", answer or "Negotiate")])
            return False
        self.final_token = answer
        return True

    def _answer(self, data: bytes) -> None:
        started = time.perf_counter()
        relates_to, transport, operation = "", "-", "?"
        encrypted = (self.headers.get("Content-Type") or "").lower().startswith("multipart/encrypted")
        try:
            if encrypted:
                if self.ntlm is None or not self.ntlm.complete:
                    raise WSManFault("w:AccessDenied", "An encrypted message arrived on an unauthenticated connection.")
                data = self.ntlm.unwrap(data)
            request = parse_request(data)
            relates_to = request.message_id
            operation = request.action.rsplit("/", 1)[-1]
            service = self.server.services.get(request.resource_uri)
            if service is None:
                raise unknown_resource(request.resource_uri)
            transport = _TRANSPORTS[request.resource_uri]
            if self.server.take_drop(operation):
                self._log(transport=transport, operation=operation, status=0, dropped=True)
                self.close_connection = True  # no answer: the client sees its connection closed
                return
            reply: Reply = service.handle(request, self.client_address[0])
        except NtlmError as exc:
            self._log(transport=transport, operation=operation, status=400, reason=str(exc))
            self._send(HTTPStatus.BAD_REQUEST, b"")
            return
        except WSManFault as fault:
            self._fault(fault, relates_to, encrypted, transport=transport, operation=operation)
            return
        except Exception as exc:  # the lab's own bug: answer as Windows' InternalError, and log it
            fault = WSManFault("w:InternalError", f"lab internal error: {type(exc).__name__}: {exc}", sender=False)
            self._fault(fault, relates_to, encrypted, transport=transport, operation=operation)
            return
        answer = envelope(reply.action, relates_to, reply.body)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        self._log(transport=transport, operation=operation, status=200, ms=elapsed, **reply.log)
        self._reply(HTTPStatus.OK, answer, encrypted)

    def _fault(self, fault: WSManFault, relates_to: str, encrypted: bool, **log: str) -> None:
        """Log the fault and answer it as Windows does: HTTP 500 with the SOAP fault."""
        self._log(**log, status=500, fault=fault.subcode, reason=fault.reason)
        soap = fault_envelope(fault, relates_to, self.server.context.host.name)
        self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, soap, encrypted)

    def _reply(self, status: int, soap: bytes, encrypted: bool) -> None:
        """A SOAP answer, encrypted the way the request was."""
        if encrypted and self.ntlm is not None:
            self._send(status, self.ntlm.wrap(soap), [("Content-Type", ntlm.CONTENT_TYPE)])
        else:
            self._send(status, soap, [("Content-Type", "application/soap+xml;charset=UTF-8")])
