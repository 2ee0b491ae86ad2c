"""The collection's own scripts: the bootstrap of `plugins/plugin_utils/_pwsh.py` and its requests.

`_pwsh.py` runs every script the same way: the command carries a fixed bootstrap, stdin one
JSON request `{"name", "script" (base64 of the .ps1), "params"}`. The lab recognises the
bootstrap by its text (read from `_pwsh.py` itself, without importing it) and a request by its
script: the base64 body must be byte-for-byte the file `<name>.ps1` in one of the lab's script
directories, with its `#include` lines expanded by the collection's own rule (imported, not restated),
else the lab refuses. A known script is answered by the handler registered under
its name; the reply is what the bootstrap prints: one line of ASCII JSON, exit code 0, or
`{"failed": true, ...}` with exit code 1 when the handler raises ScriptFailure.

A batch (`_pwsh.BATCH_BOOTSTRAP`, stdin `{"stop", "requests": [...]}`) is answered request by request, in order,
each as above: `{"replies": [...]}` with `{"value": ...}` or the failure record per request, exit code 0; with
`stop`, the first failure ends it. A request the lab does not know refuses the whole batch, as for one request.
"""

from __future__ import annotations

import ast
import base64
import binascii
import functools
import json
import re
from pathlib import Path
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh
from lab.checkout import from_checkout
from lab.context import HostContext
from lab.handlers import Handler, ScriptCall, ScriptFailure
from lab.handlers.binding import BindingError, bound_call
from lab.outcome import Outcome, refused
from lab.windows.hostfs import InvalidNameError

_SCRIPT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_UTF8_BOM = b"\xef\xbb\xbf"


@functools.lru_cache(maxsize=8)
def _bootstrap_from(path: Path, mtime_ns: int, constant: str) -> str | None:
    """The string assigned to `constant` at the top level of `path` (mtime_ns keys the cache)."""
    del mtime_ns
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        is_bootstrap = isinstance(node, ast.Assign) and any(getattr(t, "id", None) == constant for t in node.targets)
        if is_bootstrap and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node.value.value
    return None


def collection_bootstrap(pwsh_source: Path, constant: str = "BOOTSTRAP") -> str | None:
    """The bootstrap text `_pwsh.py` sends today (`BATCH_BOOTSTRAP`: a batch's), or None when it is missing."""
    try:
        return _bootstrap_from(pwsh_source, pwsh_source.stat().st_mtime_ns, constant)
    except (OSError, SyntaxError):
        return None


def _script_file(context: HostContext, name: str) -> bytes | None:
    for directory in context.config.script_dirs:
        path = directory / f"{name}.ps1"
        if path.is_file():
            body = path.read_bytes()
            return body[len(_UTF8_BOM) :] if body.startswith(_UTF8_BOM) else body
    return None


def _known_script(context: HostContext, name: str) -> bytes | None:
    """What the collection sends for `name`: the file with its includes expanded; None when it is unknown."""
    body = _script_file(context, name)
    if body is None:
        return None

    def read(included: str) -> bytes:
        found = _script_file(context, included)  # the include rule admits script names only
        if found is None:
            raise ValueError(f"{name}.ps1 includes {included}.ps1, which is not in the lab's script directories")
        return found

    return from_checkout(_pwsh).expand_includes(body, read, (name,))


def _escape_non_ascii(text: str) -> str:
    """The bootstrap's last step: every non-ASCII character as \\uXXXX."""
    return re.sub(r"[^\x00-\x7f]", lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _reply(document: Any, handled_by: str, exit_code: int) -> Outcome:
    line = _escape_non_ascii(json.dumps(document, separators=(",", ":"), ensure_ascii=False))
    return Outcome(output=[line], exit_code=exit_code, handled_by=handled_by)


def _parse_request(lines: list[str]) -> dict[str, Any] | str:
    """The request object, or the reason it is not one."""
    try:
        request = json.loads("\n".join(lines))
    except ValueError as exc:
        return f"stdin is not a JSON request: {exc}"
    return _check_request(request)


def _check_request(request: Any) -> dict[str, Any] | str:
    if not isinstance(request, dict) or not {"name", "script", "params"} <= set(request):
        return "the request needs name, script and params"
    if not isinstance(request["name"], str) or not _SCRIPT_NAME.match(request["name"]):
        return f"invalid script name {request['name']!r}"
    if not isinstance(request["params"], dict):
        return "params must be an object"
    return request


def run_collection_request(context: HostContext, lines: list[str]) -> Outcome:
    """Answer one `_pwsh.py` request on the host of `context`."""
    request = _parse_request(lines)
    if isinstance(request, str):
        return refused("collection", request)
    return _answer(context, request)


def _parse_batch(lines: list[str]) -> tuple[list[dict[str, Any]], bool] | str:
    """The batch's checked requests and its stop flag, or the reason it is not a batch."""
    try:
        batch = json.loads("\n".join(lines))
    except ValueError as exc:
        return f"stdin is not a JSON batch: {exc}"
    if not isinstance(batch, dict) or not isinstance(batch.get("requests"), list):
        return "a batch needs a list of requests"
    requests = [_check_request(request) for request in batch["requests"]]
    problem = next((request for request in requests if isinstance(request, str)), None)
    return problem if problem is not None else ([r for r in requests if isinstance(r, dict)], bool(batch.get("stop")))


def run_collection_batch(context: HostContext, lines: list[str]) -> Outcome:
    """Answer a batch of `_pwsh.py` requests, in order, in one command (`_pwsh.BATCH_BOOTSTRAP`)."""
    parsed = _parse_batch(lines)
    if isinstance(parsed, str):
        return refused("collection:batch", parsed)
    requests, stop = parsed
    handled_by = "collection:" + "+".join(request["name"] for request in requests)
    known = [_recognise(context, request) for request in requests]
    refusal = next((outcome for outcome in known if isinstance(outcome, Outcome)), None)
    if refusal is not None:  # the lab does not know a script of it: nothing of the batch runs
        return refused(handled_by, "; ".join(refusal.errors))
    replies: list[Any] = []
    for request, script in zip(requests, known):
        outcome = _run(context, request, *script)
        document = json.loads(outcome.output[0])
        replies.append({"value": document} if outcome.exit_code == 0 else document)
        if outcome.exit_code != 0 and stop:
            break
    return _reply({"replies": replies}, handled_by, 0)


def _answer(context: HostContext, request: dict[str, Any]) -> Outcome:
    """Run one checked request's script through its handler: its reply, a script failure or a refusal."""
    known = _recognise(context, request)
    return known if isinstance(known, Outcome) else _run(context, request, *known)


def _recognise(context: HostContext, request: dict[str, Any]) -> tuple[str, Handler] | Outcome:
    """The script text the lab knows for the request and its handler, or the refusal naming what is unknown."""
    name = request["name"]
    handled_by = f"collection:{name}"
    try:
        expected = _known_script(context, name)
    except ValueError as exc:  # an include that is missing or includes itself
        return refused(handled_by, str(exc))
    if expected is None:
        return refused(handled_by, f"unknown collection script {name}.ps1 (not in the lab's script directories)")
    try:
        sent = base64.b64decode(str(request["script"]), validate=True)
    except (binascii.Error, ValueError):
        return refused(handled_by, f"the body of {name}.ps1 is not valid base64")
    if sent != expected:
        return refused(
            handled_by, f"the body of {name}.ps1 differs from the lab's copy; the lab answers only what it knows"
        )
    handler = context.registry.get(name)
    if handler is None:
        return refused(handled_by, f"no lab handler for collection script {name}.ps1")
    return expected.decode("utf-8-sig"), handler


def _run(context: HostContext, request: dict[str, Any], text: str, handler: Handler) -> Outcome:
    name = request["name"]
    handled_by = f"collection:{name}"
    call = ScriptCall(
        host=context.host,
        estate=context.config.estate,
        name=name,
        params=request["params"],
        state_dir=context.state_dir,
        files=context.files,
    )
    try:  # PowerShell binds the params to the script's param() block before it runs (lab.handlers.binding)
        return _reply(handler(bound_call(call, text)), handled_by, 0)
    except (ScriptFailure, InvalidNameError) as exc:  # a name Windows refuses fails the script as New-Item would
        category = exc.category if isinstance(exc, BindingError) else "NotSpecified"
        failure = {"failed": True, "name": name, "msg": str(exc), "category": category, "at": None}
        return _reply(failure, handled_by, 1)
