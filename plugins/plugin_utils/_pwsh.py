"""Run the collection's PowerShell scripts on a Windows host over the host's own connection.

This is the only file that knows about the transport. Every probe and every change on a
Windows host goes through ``run_script``: one call is one round trip.

Contract (the lab, an emulator of Windows hosts, implements the other side of it):

* Command: ``COMMAND`` = ``PWSH_PREFIX`` + base64(UTF-16-LE(``BOOTSTRAP``)). ``PWSH_PREFIX`` is
  exactly the one ansible-core's PowerShell shell plugin builds, so ``ansible.builtin.psrp``
  decodes the bootstrap and runs it in its runspace (stdin lines become pipeline input), and
  ``ansible.builtin.winrm`` sends the command as is (no second encoding) to ``PowerShell.exe``.
  The command is the same for every script, so it never carries a secret.
* Stdin: one line of ASCII JSON, then ``\\n``::

      {"name": "<script name>", "script": "<base64 of the UTF-8 .ps1>", "params": {...}}

  The bootstrap parses ``script`` (named ``<name>.ps1`` in stack traces) and calls it with
  ``params`` splatted as named parameters.
* Reply on success: rc 0; stdout is ONE line of JSON, the script's return value
  (``ConvertTo-Json -Depth 16 -Compress``), with every non-ASCII character escaped as ``\\uXXXX``
  so the console code page cannot mangle it.
* Reply on failure (a terminating error escaped the script): rc 1; stdout is
  ``{"failed": true, "name": ..., "msg": ..., "category": ..., "at": ...}``; stderr may carry
  more, CLIXML-encoded (``#< CLIXML``) when it comes from ``PowerShell.exe`` over WinRS.

Connection failures (no reply at all) are retried a bounded number of times with backoff, and only
where running the script again is harmless: ``_connection_retry.py`` says which and why.

The words: a *bootstrap* is the fixed stub the command line carries; a *request* is the stdin
line; a *reply* is what ``ActionBase._low_level_execute_command`` returns (rc, stdout, stderr).
"""

from __future__ import annotations

import base64
import importlib.resources
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import (
    BATCH_SEPARATOR,
    with_connection_retries,
)

# ansible.plugins.shell.powershell._common_args joined, plus -EncodedCommand: the psrp plugin
# runs in-process only commands starting with exactly this, and winrm skips re-encoding them.
PWSH_PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "

# WinRS hands the command line to cmd.exe, whose limit is 8191 characters
# (https://learn.microsoft.com/troubleshoot/windows-client/shell-experience/command-line-string-limitation).
COMMAND_LINE_LIMIT = 8191

BOOTSTRAP = r"""$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop';$r=$null
try{$r=(@($input) -join "`n")|ConvertFrom-Json
$c=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($r.script))
$s=[Management.Automation.Language.Parser]::ParseInput($c,"$($r.name).ps1",[ref]$null,[ref]$null).GetScriptBlock()
$p=@{};foreach($o in $r.params.PSObject.Properties){$p[$o.Name]=$o.Value}
$j=ConvertTo-Json -InputObject (& $s @p) -Depth 16 -Compress;$x=0}
catch{$j=ConvertTo-Json -Compress -InputObject @{failed=$true;name=$r.name;msg="$_"
category=[string]$_.CategoryInfo.Category;at=$_.InvocationInfo.PositionMessage};$x=1}
[regex]::Replace($j,'[^\x00-\x7f]',{param($m)'\u{0:x4}' -f [int][char]$m.Value});exit $x"""

COMMAND = PWSH_PREFIX + base64.b64encode(BOOTSTRAP.encode("utf-16-le")).decode("ascii")

# A batch: several requests in one round trip (stdin: {"stop": bool, "requests": [request, ...]}), run in order in
# one PowerShell process. Each reply is {"value": <the script's return value>} or the failure record the single
# bootstrap prints; with "stop", the first failure ends the batch (the scripts after it are not run, and have no
# reply). It prints {"replies": [...]} and exits 0: each reply says how its script went. Why: a WinRS command costs
# four HTTP requests and a task's shell six more, so steps of one job on one host share a round trip
# (docs/backup.md, "The backup job").
BATCH_BOOTSTRAP = r"""$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop';$o=@()
$b=(@($input) -join "`n")|ConvertFrom-Json
foreach($r in @($b.requests)){try{$c=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($r.script))
$s=[Management.Automation.Language.Parser]::ParseInput($c,"$($r.name).ps1",[ref]$null,[ref]$null).GetScriptBlock()
$p=@{};foreach($q in $r.params.PSObject.Properties){$p[$q.Name]=$q.Value}
$o+=,@{value=(& $s @p)}}
catch{$o+=,@{failed=$true;name=$r.name;msg="$_";category=[string]$_.CategoryInfo.Category
at=$_.InvocationInfo.PositionMessage};if($b.stop){break}}}
$j=ConvertTo-Json -InputObject @{replies=$o} -Depth 19 -Compress
[regex]::Replace($j,'[^\x00-\x7f]',{param($m)'\u{0:x4}' -f [int][char]$m.Value});exit 0"""

BATCH_COMMAND = PWSH_PREFIX + base64.b64encode(BATCH_BOOTSTRAP.encode("utf-16-le")).decode("ascii")

_SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_UTF8_BOM = b"\xef\xbb\xbf"


class ScriptError(Exception):
    """A script did not return its one JSON document; carries what the host said."""

    def __init__(self, name: str, rc: int, stdout: str, stderr: str, msg: str) -> None:
        super().__init__(f"{name}.ps1: {msg}")
        self.name = name
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.msg = msg

    def to_result(self) -> dict[str, Any]:
        """The task result an action plugin returns for this error."""
        return {"failed": True, "msg": str(self), "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


# A line "#include <name>.ps1" in a script stands for that script's text: scripts share functions this way,
# since each run sends one self-contained script (a comment to PowerShell, so every file still parses alone).
_INCLUDE = re.compile(rb"^#include ([a-z][a-z0-9_]*)\.ps1(?=\r?$)", re.MULTILINE)


def expand_includes(body: bytes, read: Callable[[str], bytes], including: tuple[str, ...] = ()) -> bytes:
    """``body`` with every ``#include <name>.ps1`` line replaced by ``read(name)``, itself expanded."""

    def included(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode("ascii")
        if name in including:
            raise ValueError(f"{name}.ps1 includes itself (through {' -> '.join(including)})")
        return expand_includes(read(name).rstrip(b"\r\n"), read, (*including, name))

    return _INCLUDE.sub(included, body)


def _script_file(name: str) -> bytes:
    if not _SCRIPT_NAME.match(name):
        raise ValueError(f"invalid script name {name!r}")
    # importlib.resources, not pkgutil.get_data: the latter returns None for a namespace package
    # (no __init__.py) outside Ansible's collection loader, e.g. under pytest.
    body = importlib.resources.files(__name__.rpartition(".")[0]).joinpath(f"scripts/{name}.ps1").read_bytes()
    return body[len(_UTF8_BOM) :] if body.startswith(_UTF8_BOM) else body


def load_script(name: str) -> bytes:
    """The text of ``scripts/<name>.ps1`` (package data) as it is sent: without a UTF-8 BOM, includes expanded."""
    return expand_includes(_script_file(name), _script_file, (name,))


def _request(name: str, params: Mapping[str, object]) -> dict[str, Any]:
    return {"name": name, "script": base64.b64encode(load_script(name)).decode("ascii"), "params": dict(params)}


def _stdin_line(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def build_request(name: str, params: Mapping[str, object]) -> bytes:
    """The stdin line for one run of ``name``: script and params, ASCII JSON, newline-terminated."""
    return _stdin_line(_request(name, params))


def build_batch_request(calls: Sequence[tuple[str, Mapping[str, object]]], stop_on_failure: bool) -> bytes:
    """The stdin line of a batch: its requests in order, and whether the first failure ends it."""
    return _stdin_line({"stop": stop_on_failure, "requests": [_request(name, params) for name, params in calls]})


def run_script(action: ActionBase, name: str, params: Mapping[str, object]) -> dict[str, Any]:
    """Run ``scripts/<name>.ps1`` on the task's host; return its JSON object or raise ScriptError.

    A connection that fails before a reply is retried as ``_connection_retry`` decides (raising
    ``ConnectionFailed``, an ``AnsibleConnectionFailure``, when it gives up); a reply is never retried.
    """
    request = build_request(name, params)

    def round_trip() -> dict[str, Any]:
        # sudoable=False: become would wrap the command and lose the in-process psrp path.
        return action._low_level_execute_command(COMMAND, in_data=request, sudoable=False)

    return decode_reply(name, with_connection_retries(action, name, round_trip))


def run_scripts(
    action: ActionBase, calls: Sequence[tuple[str, Mapping[str, object]]], stop_on_failure: bool
) -> list[dict[str, Any] | ScriptError]:
    """Run several scripts in ONE round trip, in order: per script its JSON object or its ScriptError.

    With ``stop_on_failure`` the list ends at the first ScriptError (the scripts after it did not run).
    A batch whose reply is not a batch's (no JSON, a failed bootstrap) raises the ScriptError of the whole batch.
    """
    names = [name for name, _params in calls]
    batch = BATCH_SEPARATOR.join(names)
    request = build_batch_request(calls, stop_on_failure)

    def round_trip() -> dict[str, Any]:
        return action._low_level_execute_command(BATCH_COMMAND, in_data=request, sudoable=False)

    return decode_batch_reply(names, with_connection_retries(action, batch, round_trip))


def decode_batch_reply(names: Sequence[str], reply: Mapping[str, Any]) -> list[dict[str, Any] | ScriptError]:
    """Each script's document or ScriptError, decoded by the rule of a single reply (``decode_reply``)."""
    replies = decode_reply(BATCH_SEPARATOR.join(names), reply).get("replies")
    if isinstance(replies, dict):  # ConvertTo-Json writes a one-element array as its element
        replies = [replies]
    if not isinstance(replies, list) or len(replies) > len(names):
        raise ScriptError(BATCH_SEPARATOR.join(names), 0, str(reply.get("stdout") or ""), "", "no batch replies")
    decoded: list[dict[str, Any] | ScriptError] = []
    for name, item in zip(names, replies):
        failed = isinstance(item, dict) and bool(item.get("failed"))
        document = item if failed or not isinstance(item, dict) else item.get("value")
        one = {"rc": 1 if failed else 0, "stdout": json.dumps(document), "stderr": reply.get("stderr") or ""}
        try:
            decoded.append(decode_reply(name, one))
        except ScriptError as exc:
            decoded.append(exc)
    if len(decoded) < len(names) and not (decoded and isinstance(decoded[-1], ScriptError)):
        message = f"replied for {len(decoded)} of {len(names)} scripts without a failure"
        raise ScriptError(BATCH_SEPARATOR.join(names), 0, str(reply.get("stdout") or ""), "", message)
    return decoded


def decode_reply(name: str, reply: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a reply (rc, stdout, stderr) into the script's document, or raise ScriptError."""
    rc = int(reply.get("rc") or 0)
    stdout = str(reply.get("stdout") or "")
    stderr = decode_stderr(str(reply.get("stderr") or ""))

    def fail(msg: str) -> ScriptError:
        return ScriptError(name, rc, stdout, stderr, msg)

    document = _last_json_object(stdout)
    if document is None:
        detail = _first_line(stderr) or "stdout held no JSON object"
        raise fail(f"no result (rc={rc}): {detail}")
    if document.get("failed"):
        where = f" {document['at'].strip()}" if document.get("at") else ""
        raise fail(f"{document.get('msg') or 'failed without a message'}{where}")
    if rc != 0:
        raise fail(f"exited with rc={rc} after its result: {_first_line(stderr) or 'no stderr'}")
    return document


def _last_json_object(stdout: str) -> dict[str, Any] | None:
    """The last stdout line that is a JSON object; earlier lines are host noise (Write-Host)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# CLIXML is how PowerShell.exe serialises its error stream when stdout/stderr are redirected:
# a "#< CLIXML" line, then <Objs> documents whose <S S="Error"> strings are the error text, with
# control characters and surrogates escaped as _xHHHH_ (UTF-16 code units, big-endian hex).
_CLIXML_HEADER = "#< CLIXML"
_CLIXML_OBJS = re.compile(r"<Objs\b.*?</Objs>", re.DOTALL)
_CLIXML_ESCAPES = re.compile(r"(?:_x[0-9A-Fa-f]{4}_)+")


def decode_stderr(stderr: str) -> str:
    """Readable text for stderr: CLIXML error records become their messages, other text stays."""
    if _CLIXML_HEADER not in stderr:
        return stderr
    pieces = []
    position = 0
    for match in _CLIXML_OBJS.finditer(stderr):
        pieces.append(stderr[position : match.start()].replace(_CLIXML_HEADER, ""))
        pieces.append(_clixml_error_text(match.group(0)) or match.group(0))
        position = match.end()
    pieces.append(stderr[position:].replace(_CLIXML_HEADER, ""))
    return "".join(pieces).strip()


def _clixml_error_text(document: str) -> str | None:
    """The Error-stream strings of one <Objs> document, or None when it is not well-formed XML."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        return None
    strings = [el.text or "" for el in root.iter() if el.tag.rpartition("}")[2] == "S" and el.get("S") == "Error"]
    return _unescape_clixml("".join(strings))


def _unescape_clixml(text: str) -> str:
    def code_units(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group(0).replace("_x", "").replace("_", ""))
        return raw.decode("utf-16-be", errors="replace")

    return _CLIXML_ESCAPES.sub(code_units, text)
