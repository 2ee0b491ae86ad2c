"""Handler of `data_mover_run.ps1`: the proxy's installed data mover is the collection's own engine.

On Windows the script checks that `proxy_components` installed the data mover component (its
version record and the runtime and engine files in its destination), then starts
`python.exe datamover.pyz <command line>` with the passphrase in the environment and returns the
engine's exit code, stdout and stderr. The lab does the same on the emulated host's state and files:
it splits the command line as the engine's C runtime would (CommandLineToArgvW rules), maps every
Windows path in it into the lab (a drive path to the host's tree, `\\\\server\\share\\...` to the SMB
server's share, a CSV path to the cluster's shared directory), writes the script's input files
(`InputFiles`: changed ranges, a job) to its temporary folder with their paths mapped the same way,
runs the engine's command line (`cli.main`, found the way `bin/hyperv-datamover` finds it) in-process,
and maps the paths in what it printed back to their Windows form. One code path: the engine the lab
runs is the checkout's.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from lab.checkout import CheckoutImportError, from_checkout
from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows.hostfs import HostPathError, InvalidNameError, expand_variables
from lab.windows.hoststate import HostState
from lab.windows.storage import local_path as estate_local_path

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_LONG_PATH_PREFIX = "\\\\?\\"


def split_command_line(line: str) -> list[str]:
    """Arguments as CommandLineToArgvW (and the Microsoft C runtime) split a command line."""
    arguments: list[str] = []
    current: list[str] = []
    quoted = token = False
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            end = index
            while end < len(line) and line[end] == "\\":
                end += 1
            count = end - index
            if end < len(line) and line[end] == '"':  # 2n backslashes + quote: n and a quote toggle
                current.append("\\" * (count // 2) + ('"' if count % 2 else ""))
                index = end + 1 if count % 2 else end
            else:
                current.append("\\" * count)
                index = end
            token = True
        elif char == '"':
            if quoted and line[index + 1 : index + 2] == '"':  # "" inside quotes is a literal quote
                current.append('"')
                index += 1
            else:
                quoted = not quoted
            token = True
            index += 1
        elif char in " \t" and not quoted:
            if token:
                arguments.append("".join(current))
            current, token = [], False
            index += 1
        else:
            current.append(char)
            token = True
            index += 1
    if token:
        arguments.append("".join(current))
    return arguments


def engine_cli() -> ModuleType:
    """The engine's `cli` module, refused unless it is this checkout's (the launcher's collections root)."""
    try:
        return from_checkout(cli)
    except CheckoutImportError as exc:
        raise ScriptFailure(str(exc)) from exc


class PathMap:
    """Windows paths of one run mapped into the lab, and the way back for what the engine prints."""

    def __init__(self, call: ScriptCall) -> None:
        self._call = call
        self._back: dict[str, str] = {}

    def to_local(self, windows_path: str) -> str:
        path = windows_path[len(_LONG_PATH_PREFIX) :] if windows_path.startswith(_LONG_PATH_PREFIX) else windows_path
        try:
            model = self._call.estate.model
            lab_state = self._call.state_dir.parents[2]  # <lab>/hosts/<name>/state
            local = estate_local_path(model, lab_state, self._call.host.name, path) if model else None
            local = local or self._call.files.local_path(path)
        except InvalidNameError as exc:
            raise InvalidNameError(windows_path) from exc  # the engine fails opening it (run_engine)
        except HostPathError as exc:
            raise ScriptFailure(f"lab: the data mover's path {windows_path} is not emulated: {exc}") from exc
        self._back[str(local)] = path.rstrip("\\/")
        return str(local)

    def argument(self, argument: str) -> str:
        return self.to_local(argument) if _WINDOWS_PATH.match(argument) else argument

    def to_windows(self, text: str) -> str:
        """Every mapped local path (and anything under it) in `text` in its Windows form."""
        for local in sorted(self._back, key=len, reverse=True):
            pattern = re.escape(local) + r"(?P<rest>(?:/[^\s'\",]*)?)(?![^\s'\",])"
            text = re.sub(pattern, lambda m, local=local: self._back[local] + m["rest"].replace("/", "\\"), text)
        return text

    def result_to_windows(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.to_windows(value)
        if isinstance(value, dict):
            return {self.to_windows(key): self.result_to_windows(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.result_to_windows(item) for item in value]
        return value


def installed_component(call: ScriptCall, component: dict[str, Any]) -> dict[str, Any]:
    """What the script reports about the component: its version record and the files it lacks."""
    name, destination = str(component.get("Name")), str(component.get("Destination"))
    version = HostState(call.state_dir).read()["components"].get(name)
    missing = []
    for relative in (str(component.get("Runtime")), str(component.get("Engine"))):
        try:
            present = call.files.local_path(destination.rstrip("\\") + "\\" + relative).is_file()
        except HostPathError:
            present = False
        if not present:
            missing.append(relative)
    return {"Name": name, "Version": version, "Destination": destination, "Missing": missing}


def _mapped_ranges(paths: PathMap, ranges: Any) -> Any:
    """RCT ranges keyed by the sources' Windows paths, keyed by their lab paths (as the sources are)."""
    return {paths.argument(key): value for key, value in ranges.items()} if isinstance(ranges, dict) else ranges


def _mapped_job_entry(paths: PathMap, entry: Any) -> Any:
    """A job entry with its paths (sources, destination, changed_ranges keys) in the lab; the rest as is."""
    if not isinstance(entry, dict):
        return entry
    mapped = dict(entry)
    if isinstance(entry.get("sources"), list):
        mapped["sources"] = [paths.argument(s) if isinstance(s, str) else s for s in entry["sources"]]
    if isinstance(entry.get("destination"), str):
        mapped["destination"] = paths.argument(entry["destination"])
    if "changed_ranges" in entry:
        mapped["changed_ranges"] = _mapped_ranges(paths, entry["changed_ranges"])
    return mapped


def _mapped_input(paths: PathMap, option: str, text: str) -> Any:
    """An input file's JSON with the Windows paths the engine will open mapped into the lab."""
    value = json.loads(text)
    if option == "changed-ranges":
        return _mapped_ranges(paths, value)
    if option == "job" and isinstance(value, list):
        return [_mapped_job_entry(paths, entry) for entry in value]
    return value


def _write_input_files(call: ScriptCall, paths: PathMap, input_files: dict[str, str]) -> tuple[Path, list[str]]:
    """The script's temporary folder with `<option>.json` for each input file, and the options naming them."""
    mapped = {option: _mapped_input(paths, option, text) for option, text in input_files.items()}  # may refuse
    temp = call.files.local_path(expand_variables("%TEMP%", call.host.username))
    work = temp / f"backup.hyperv-datamover-{uuid.uuid4().hex}"
    work.mkdir(parents=True)
    options: list[str] = []
    for option, value in mapped.items():
        target = work / f"{option}.json"
        target.write_text(json.dumps(value), encoding="utf-8")
        options += [f"--{option}", str(target)]
    return work, options


def _output_to_windows(paths: PathMap, output: str) -> str:
    """The engine's JSON (also a failed job's, status 1) with its lab paths in Windows form."""
    try:
        result = json.loads(output)
    except ValueError:
        return paths.to_windows(output)
    return json.dumps(paths.result_to_windows(result), indent=2, sort_keys=True) + "\n"


def run_engine(call: ScriptCall, command_line: str, input_files: dict[str, str], passphrase: str) -> dict[str, Any]:
    """The engine's command line on the lab's files: exit code, stdout and stderr in Windows form."""
    engine = engine_cli()
    paths = PathMap(call)
    work = None
    try:
        argv = [paths.argument(argument) for argument in split_command_line(command_line)]
        if input_files:
            work, options = _write_input_files(call, paths, input_files)
            argv += options
    except InvalidNameError as exc:
        return _refused_name(exc)
    environ = {engine.PASSPHRASE_ENV: passphrase} if passphrase else {}
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):  # argparse reports usage errors on sys.stderr
            exit_code = engine.main(argv, environ=environ, stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else 2
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    output = stdout.getvalue()
    if output.strip():
        output = _output_to_windows(paths, output)
    return {"exit_code": exit_code, "stdout": output, "stderr": paths.to_windows(stderr.getvalue())}


def _refused_name(error: InvalidNameError) -> dict[str, Any]:
    """What the engine prints when Windows refuses a name it opens (Python's OSError on Windows), status 1.

    Python words a Windows error as FormatMessage does, without the trailing period.
    """
    line = f"[WinError {error.winerror}] {str(error).rstrip('.')}: {error.windows_path!r}"
    return {"exit_code": 1, "stdout": "", "stderr": f"hyperv-datamover: error: {line}\n"}


def _input_files(call: ScriptCall) -> dict[str, str]:
    """InputFiles as PowerShell binds it: a hashtable of option -> JSON text (none by default)."""
    value = call.params.get("InputFiles") or {}
    if not isinstance(value, dict):
        raise ScriptFailure("Cannot convert the InputFiles value to a dictionary of option names and JSON texts.")
    return {str(option): str(text) for option, text in value.items()}


def data_mover_run(call: ScriptCall) -> dict[str, Any]:
    component, command_line = call.params.get("Component"), call.params.get("CommandLine")
    if not isinstance(component, dict) or not isinstance(command_line, str):
        raise ScriptFailure("Cannot bind argument to parameter 'Component' or 'CommandLine' because it is null.")
    installed = installed_component(call, component)
    if installed["Version"] is None or installed["Missing"]:
        return {"component": installed, "ran": False, "exit_code": None, "stdout": "", "stderr": ""}
    engine = run_engine(call, command_line, _input_files(call), str(call.params.get("Passphrase") or ""))
    return {"component": installed, "ran": True, **engine}


def register(registry: HandlerRegistry) -> None:
    registry.add("data_mover_run", data_mover_run)
