"""NTLM authentication and WinRM message encryption ([MS-WSMV] 2.2.9.1.1), the Windows default.

pywinrm (`transport: ntlm`) and pypsrp (`auth: negotiate`/`ntlm`) over HTTP authenticate each
TCP connection with an NTLM handshake in `Authorization: Negotiate` headers, then encrypt every
SOAP body as `multipart/encrypted` with protocol `application/HTTP-SPNEGO-session-encrypted`.
pyspnego plays the Windows side: its NTLM acceptor reads credentials from the file named by
`NTLM_USER_FILE`, so each host gets a file of its own and the variable is set, under a lock,
for the step that needs it. The authenticated user must be the host's estate user.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import spnego
from spnego.exceptions import SpnegoError

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
_BOUNDARY = b"--Encrypted Boundary"
_ENVIRONMENT_LOCK = threading.Lock()
T = TypeVar("T")


class NtlmError(Exception):
    """The handshake or a message failed: answer 401 (handshake) or 400 (message)."""


def write_user_file(path: Path, username: str, password: str) -> None:
    """The host's credential store in the `DOMAIN:USER:PASSWORD` form pyspnego reads (any domain)."""
    path.write_text(f":{username}:{password}\n", encoding="utf-8")
    path.chmod(0o600)


class NtlmSession:
    """The NTLM state of one HTTP connection to one host."""

    def __init__(self, user_file: Path, username: str) -> None:
        self.user_file = user_file
        self.username = username
        self.context = self._with_user_file(lambda: spnego.server(protocol="negotiate"))

    def _with_user_file(self, action: Callable[[], T]) -> T:
        """Run `action` with NTLM_USER_FILE naming this host's store (pyspnego reads it then)."""
        with _ENVIRONMENT_LOCK:
            previous = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = str(self.user_file)
            try:
                return action()
            finally:
                if previous is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = previous

    @property
    def complete(self) -> bool:
        return self.context.complete

    def step(self, authorization: str) -> str | None:
        """Take `Negotiate <token>`; returns the `WWW-Authenticate` value to answer with: the
        challenge, or once authenticated SPNEGO's final token (mechListMIC), or None."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("negotiate", "ntlm") or not token:
            raise NtlmError("not an NTLM authorization header")
        try:
            answer = self._with_user_file(lambda: self.context.step(base64.b64decode(token)))
        except (SpnegoError, ValueError) as exc:
            raise NtlmError(f"NTLM authentication failed: {exc}") from exc
        if self.context.complete:
            principal = (self.context.client_principal or "").rpartition("\\")[2]
            if principal.lower() != self.username.lower():
                raise NtlmError(f"user {principal} is not this host's user")
        return f"{scheme} {base64.b64encode(answer).decode()}" if answer else None

    def unwrap(self, body: bytes) -> bytes:
        """The SOAP text of an encrypted request body."""
        parts = [part for part in body.split(_BOUNDARY + b"\r\n") if part]
        if len(parts) != 2:
            raise NtlmError("the encrypted body does not have the two MIME parts WinRM uses")
        length = re.search(rb"Length=(\d+)", parts[0])
        payload = parts[1].removesuffix(_BOUNDARY + b"--\r\n")
        payload = payload.removeprefix(b"\tContent-Type: application/octet-stream\r\n")
        (header_length,) = struct.unpack("<I", payload[:4])
        header, data = payload[4 : 4 + header_length], payload[4 + header_length :]
        try:
            text = self.context.unwrap_winrm(header, data)
        except SpnegoError as exc:
            raise NtlmError(f"cannot decrypt the message: {exc}") from exc
        if length is None or int(length.group(1)) != len(text):
            raise NtlmError("the decrypted length differs from OriginalContent")
        return text

    def wrap(self, text: bytes) -> bytes:
        """An encrypted response body for SOAP `text`."""
        wrapped = self.context.wrap_winrm(text)
        return (
            _BOUNDARY + b"\r\n"
            b"\tContent-Type: " + PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(text)).encode()
            + b"\r\n"
            + _BOUNDARY
            + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<I", len(wrapped.header))
            + wrapped.header
            + wrapped.data
            + _BOUNDARY
            + b"--\r\n"
        )
