"""Decode what a client asks a host to run, the way Windows would, and pick its emulation.

Over WinRS a command line goes to cmd.exe (limit 8191 characters, "The command line is too
long.") and from there to `PowerShell.exe`, whose `-EncodedCommand` is base64 of UTF-16-LE
script text. Over PSRP the script text arrives directly. Either way the script text is
normalised the way Ansible's shell plugin does before encoding (lines stripped, blank lines
dropped), its Ansible wrappers (`Set-StrictMode` first line, exit-code propagation last line,
psrp's `exit $LASTEXITCODE`) are peeled, a nested `PowerShell ... -EncodedCommand` layer is
decoded again, and the result is compared with the scripts the lab knows. A `Plan` says
whether the script reads its input (then it runs once stdin is closed) and how to run it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from lab.ansible_exec import ansible_script, plan_shell_command, run_ansible_manifest
from lab.collection import collection_bootstrap, run_collection_batch, run_collection_request
from lab.context import HostContext
from lab.outcome import Outcome, refused

CMD_LIMIT = 8191  # cmd.exe
CREATE_PROCESS_LIMIT = 32767  # WINRS_SKIP_CMD_SHELL: no cmd.exe, CreateProcess's own limit
_NESTING_LIMIT = 4
_STRICT_MODE = "set-strictmode -version latest"
_PRESERVE_RC = re.compile(r"^if \(-not \$\?\) \{.*exit 1 \} \}$", re.IGNORECASE)
_EXIT_LASTEXITCODE = "exit $lastexitcode"
# PowerShell.exe parameters the lab understands; a prefix selects the first name it starts.
_TAKES_VALUE = ("encodedcommand", "executionpolicy", "inputformat", "outputformat", "windowstyle", "command", "file")
_FLAGS = ("noprofile", "noninteractive", "nologo", "noexit", "sta", "mta")
_ALIASES = {"ec": "encodedcommand", "ep": "executionpolicy", "ex": "executionpolicy", "nop": "noprofile"}


@dataclass(frozen=True)
class Plan:
    """How to run a recognised command: `run(input_lines)`; `reads_input` says whether to wait for stdin."""

    reads_input: bool
    run: Callable[[list[str]], Outcome]


def _now(outcome: Outcome) -> Plan:
    return Plan(reads_input=False, run=lambda lines: outcome)


def normalise(script: str) -> list[str]:
    """Script lines as Ansible's `_encode_script` leaves them: stripped, no blank lines."""
    return [line.strip() for line in script.splitlines() if line.strip()]


def _peel_wrappers(lines: list[str]) -> list[str]:
    if lines and lines[0].lower() == _STRICT_MODE:
        lines = lines[1:]
    if lines and (_PRESERVE_RC.match(lines[-1]) or lines[-1].lower() == _EXIT_LASTEXITCODE):
        lines = lines[:-1]
    return lines


def split_command_line(line: str) -> list[str]:
    """Split like CommandLineToArgvW for the cases clients send: spaces, double quotes."""
    return [token.replace('"', "") for token in re.findall(r'(?:[^\s"]+|"[^"]*")+', line)]


def _parameter(token: str) -> str | None:
    if not token.startswith("-") or len(token) < 2:
        return None
    word = token[1:].lower()
    if word in _ALIASES:
        return _ALIASES[word]
    return next((name for name in _TAKES_VALUE + _FLAGS if name.startswith(word)), None)


def _powershell_script(arguments: list[str]) -> str | Outcome:
    """The script a PowerShell.exe argument list runs, or the error PowerShell.exe gives."""
    index = 0
    while index < len(arguments):
        name = _parameter(arguments[index])
        if name is None:
            return refused("powershell", f"PowerShell.exe argument {arguments[index]!r} is not emulated")
        if name == "file":
            target = arguments[index + 1] if index + 1 < len(arguments) else "?"
            return refused("powershell", f"running the script file {target} (-File) is not emulated")
        if name == "command":
            rest = arguments[index + 1 :]
            if rest == ["-"]:
                return refused("powershell", "PowerShell.exe -Command - (script on stdin) is not emulated")
            return " ".join(rest)
        if name in _TAKES_VALUE:
            if index + 1 >= len(arguments):
                return Outcome(
                    errors=[f"Missing argument for parameter -{name}."], exit_code=1, handled_by="powershell"
                )
            if name == "encodedcommand":
                try:
                    return base64.b64decode(arguments[index + 1], validate=True).decode("utf-16-le")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    return Outcome(
                        errors=[
                            "Cannot process the command because the value specified with -EncodedCommand is "
                            "not properly encoded. The value must be Base64 encoded."
                        ],
                        exit_code=1,
                        handled_by="powershell",
                    )
            index += 2
        else:
            index += 1
    return refused("powershell", "interactive PowerShell.exe (no -EncodedCommand or -Command) is not emulated")


def _is_powershell(executable: str) -> bool:
    base = re.split(r"[\\/]", executable)[-1].lower()
    return base in ("powershell", "powershell.exe")


def plan_command_line(context: HostContext, line: str, skip_cmd_shell: bool = False, depth: int = 0) -> Plan:
    """What a WinRS command line (or a nested PowerShell command line) does on the host."""
    limit = CREATE_PROCESS_LIMIT if skip_cmd_shell else CMD_LIMIT
    if len(line) > limit:
        return _now(Outcome(console_errors=["The command line is too long."], exit_code=1, handled_by="cmd"))
    tokens = split_command_line(line)
    if not tokens or not _is_powershell(tokens[0]):
        name = tokens[0] if tokens else ""
        message = f"'{name}' is not recognized as an internal or external command,\r\noperable program or batch file."
        return _now(
            Outcome(console_errors=[message, "lab: only PowerShell.exe is emulated"], exit_code=1, handled_by="cmd")
        )
    script = _powershell_script(tokens[1:])
    if isinstance(script, Outcome):
        return _now(script)
    return plan_script(context, script, depth + 1)


def plan_script(context: HostContext, script: str, depth: int = 0) -> Plan:
    """Recognise PowerShell script text; anything unknown is refused, naming it."""
    lines = _peel_wrappers(normalise(script))
    nested = re.match(
        r"^(?:&\s*)?(powershell(?:\.exe)?\s.*?)(?:;\s*exit \$lastexitcode)?$",
        lines[0] if len(lines) == 1 else "",
        re.IGNORECASE,
    )
    if nested and depth < _NESTING_LIMIT:
        return plan_command_line(context, nested.group(1), skip_cmd_shell=True, depth=depth)
    bootstrap = collection_bootstrap(context.config.pwsh_source)
    if bootstrap is not None and lines == normalise(bootstrap):
        return Plan(reads_input=True, run=lambda data: run_collection_request(context, data))
    batch_bootstrap = collection_bootstrap(context.config.pwsh_source, "BATCH_BOOTSTRAP")
    if batch_bootstrap is not None and lines == normalise(batch_bootstrap):
        return Plan(reads_input=True, run=lambda data: run_collection_batch(context, data))
    if lines == normalise(ansible_script("bootstrap_wrapper.ps1").decode("utf-8")):
        return Plan(reads_input=True, run=lambda data: run_ansible_manifest(context, data))
    shell_command = plan_shell_command(context, lines)
    if shell_command is not None:
        return Plan(reads_input=False, run=shell_command)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
    first = lines[0][:80] if lines else "(empty)"
    return _now(refused("unrecognised", f"unrecognised PowerShell script (sha256 {digest}..., first line: {first})"))


def input_lines(stdin: bytes) -> list[str]:
    """Stdin as PowerShell's `$input` enumerates it: one string per line."""
    text = stdin.decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
