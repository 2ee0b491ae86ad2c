"""Handler of `data_mover_run.ps1`: the proxy's installed data mover is the collection's own engine.

On Windows the script finds the data mover component by the records `proxy_components` wrote (Role
data_mover; `Component` names one when there are several), checks its version and the runtime and engine
files its record names under its destination, then starts
`python.exe datamover.pyz run --options -` with the options document on stdin and returns the engine's
exit code, stdout and stderr. The lab does the same on the emulated host's state and files: it maps every
Windows path in the document into the lab (a drive path to the host's tree, `\\\\server\\share\\...` to the
SMB server's share, a CSV path to the cluster's shared directory), runs the engine's command line
(`bin/hyperv-datamover`, which finds this checkout's `cli.main`) in a process of its own with the document on
its stdin, so proxies run at once, and maps the paths in what it printed back to their Windows form. One code
path: the engine the lab runs is the checkout's.

Who reads: `data_mover_run.ps1` runs the engine inside the WinRM shell, as the account the controller logged on
with. A read of `\\\\server\\share\\...` from there is a second hop: with Kerberos and no delegation (or CredSSP)
the file server sees an anonymous logon and refuses it, so the lab fails the engine's open of such a path with
"Access is denied" unless the host's estate entry says `delegation: true`. The scheduled task
(`data_mover_task.py`) reads as the proxy's computer account and is not refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from types import ModuleType
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from lab.checkout import LAUNCHER, CheckoutImportError, from_checkout
from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.handlers.data_mover_cpus import host_cores, run_on_cores
from lab.windows.hostfs import HostPathError, InvalidNameError
from lab.windows.hoststate import HostState
from lab.windows.storage import local_path as estate_local_path

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_LONG_PATH_PREFIX = "\\\\?\\"


def engine_cli() -> ModuleType:
    """The engine's `cli` module, refused unless it is this checkout's (the launcher's collections root)."""
    try:
        return from_checkout(cli)
    except CheckoutImportError as exc:
        raise ScriptFailure(str(exc)) from exc


class SecondHopDenied(Exception):
    """A UNC path read from inside the WinRM shell of a host without delegation: the file server refuses it."""

    winerror = 5  # ERROR_ACCESS_DENIED

    def __init__(self, windows_path: str) -> None:
        super().__init__("Access is denied.")
        self.windows_path = windows_path


class PathMap:
    """Windows paths of one run mapped into the lab, and the way back for what the engine prints.

    `in_shell`: the run is inside the WinRM shell (a UNC path is a second hop, refused without delegation); else
    it is the scheduled task's, which reads as the computer account."""

    def __init__(self, call: ScriptCall, in_shell: bool = True, back: dict[str, str] | None = None) -> None:
        self._call = call
        model = call.estate.model
        windows_host = model.find_host(call.host.name) if model else None
        self._second_hop = in_shell and not (windows_host and windows_host.delegation)
        self._back: dict[str, str] = dict(back or {})
        self._compiled: tuple[int, re.Pattern[str]] | None = None

    @property
    def back(self) -> dict[str, str]:
        """The mapping back (lab path -> Windows path), to keep with a job that outlives this request."""
        return dict(self._back)

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
        if self._second_hop and path.startswith("\\\\"):  # a name Windows refuses fails first, on the client
            raise SecondHopDenied(windows_path)
        self._back[str(local)] = path.rstrip("\\/")
        return str(local)

    def argument(self, argument: str) -> str:
        return self.to_local(argument) if _WINDOWS_PATH.match(argument) else argument

    def to_windows(self, text: str) -> str:
        """Every mapped local path (and anything under it) in `text` in its Windows form."""
        if not self._back:
            return text
        return self._pattern().sub(lambda m: self._back[m["local"]] + m["rest"].replace("/", "\\"), text)

    def _pattern(self) -> re.Pattern[str]:
        """One expression for every mapped path, the longest first (alternatives are tried in order), compiled
        once per set of paths (paths are only ever added): an engine's result holds thousands of strings, and a
        pattern per path per string made the lab, not the collection, the slowest step of a job (0.35 s for a
        24 KB result of ten VMs)."""
        if self._compiled is None or self._compiled[0] != len(self._back):
            alternatives = "|".join(re.escape(local) for local in sorted(self._back, key=len, reverse=True))
            expression = f"(?P<local>{alternatives})(?P<rest>(?:/[^\\s'\",]*)?)(?![^\\s'\",])"
            self._compiled = (len(self._back), re.compile(expression))
        return self._compiled[1]

    def result_to_windows(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.to_windows(value)
        if isinstance(value, dict):
            return {self.to_windows(key): self.result_to_windows(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.result_to_windows(item) for item in value]
        return value


def data_mover_records(call: ScriptCall, wanted: str) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    """(the records that may run, by name; the data mover records' names; the names of records without Role)."""
    records = HostState(call.state_dir).read()["components"]
    outdated = [name for name, values in records.items() if "Role" not in values]
    found = {name: values for name, values in records.items() if values.get("Role") == "data_mover"}
    # Registry key names are case-blind, as PowerShell's -eq is.
    chosen = {name: values for name, values in found.items() if not wanted or name.lower() == wanted.lower()}
    return chosen, list(found), outdated


def installed_component(call: ScriptCall, name: str, record: dict[str, Any]) -> dict[str, Any]:
    """What the script reports about the component: its recorded version and the files it lacks."""
    destination = str(record.get("Destination") or "")
    missing = []
    for relative in (str(record.get("Runtime") or ""), str(record.get("Engine") or "")):
        try:
            present = bool(relative) and call.files.local_path(destination.rstrip("\\") + "\\" + relative).is_file()
        except HostPathError:
            present = False
        if not present:
            missing.append(relative)
    return {"Name": name, "Version": record.get("Version"), "Destination": destination, "Missing": missing}


def _mapped_ranges(paths: PathMap, ranges: Any) -> Any:
    """RCT ranges keyed by the sources' Windows paths, keyed by their lab paths (as the sources are)."""
    return {paths.argument(key): value for key, value in ranges.items()} if isinstance(ranges, dict) else ranges


def _mapped_parents(paths: PathMap, parents: Any) -> Any:
    """Differencing disks' parents keyed by the sources' Windows paths: keys and parent paths in the lab."""
    if not isinstance(parents, dict):
        return parents
    return {
        paths.argument(key): [paths.argument(p) if isinstance(p, str) else p for p in value]
        if isinstance(value, list)
        else value
        for key, value in parents.items()
    }


def _mapped_job_entry(paths: PathMap, entry: Any) -> Any:
    """A job entry with its paths (sources, destination, changed_ranges and parents) in the lab; the rest as is."""
    if not isinstance(entry, dict):
        return entry
    mapped = dict(entry)
    if isinstance(entry.get("sources"), list):
        mapped["sources"] = [paths.argument(s) if isinstance(s, str) else s for s in entry["sources"]]
    if isinstance(entry.get("destination"), str):
        mapped["destination"] = paths.argument(entry["destination"])
    if "changed_ranges" in entry:
        mapped["changed_ranges"] = _mapped_ranges(paths, entry["changed_ranges"])
    if "parents" in entry:
        mapped["parents"] = _mapped_parents(paths, entry["parents"])
    return mapped


def mapped_document(paths: PathMap, text: str) -> str:
    """The options document with every path the engine opens mapped into the lab; the rest as is."""
    document = json.loads(text)
    if not isinstance(document, dict):
        return text
    for key in ("repository", "destination"):
        if isinstance(document.get(key), str):
            document[key] = paths.argument(document[key])
    if isinstance(document.get("source"), list):
        document["source"] = [paths.argument(s) if isinstance(s, str) else s for s in document["source"]]
    if "changed_ranges" in document:
        document["changed_ranges"] = _mapped_ranges(paths, document["changed_ranges"])
    if "parents" in document:
        document["parents"] = _mapped_parents(paths, document["parents"])
    if isinstance(document.get("jobs"), list):
        document["jobs"] = [_mapped_job_entry(paths, entry) for entry in document["jobs"]]
    return json.dumps(document)


def output_to_windows(paths: PathMap, output: str) -> str:
    """The engine's JSON (also a failed job's, status 1) with its lab paths in Windows form."""
    try:
        result = json.loads(output)
    except ValueError:
        return paths.to_windows(output)
    return json.dumps(paths.result_to_windows(result), indent=2, sort_keys=True) + "\n"


def engine_command(*arguments: str) -> list[str]:
    """`hyperv-datamover <arguments>` as the lab runs it: the checkout's launcher and Python (refused unless the
    engine is this checkout's)."""
    engine_cli()
    return [sys.executable, str(LAUNCHER), *arguments]


ENGINE_ENVIRONMENT = {"PATH": os.environ.get("PATH", "")}  # an empty environment but PATH, as in-process had


def _engine_process(document: str, cores: tuple[int, ...] | None) -> tuple[int, str, str]:
    """`hyperv-datamover run --options -` in a process of its own, on the host's `cores`: two proxies' runs at once
    share no stdin, stdout or stderr, and run in parallel."""
    return run_on_cores(
        engine_command("run", "--options", "-"),
        cores,
        document,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENGINE_ENVIRONMENT,
    )


def run_engine(call: ScriptCall, document: str) -> dict[str, Any]:
    """``datamover.pyz run --options -`` with ``document`` on stdin, on the lab's files: exit code, stdout and
    stderr in Windows form."""
    paths = PathMap(call)
    try:
        mapped = mapped_document(paths, document)
    except (InvalidNameError, SecondHopDenied) as exc:
        return _refused_name(exc)
    exit_code, output, errors = _engine_process(mapped, host_cores(call))
    if output.strip():
        output = output_to_windows(paths, output)
    return {"exit_code": exit_code, "stdout": output, "stderr": paths.to_windows(errors)}


def _refused_name(error: InvalidNameError | SecondHopDenied) -> dict[str, Any]:
    """What the engine prints when Windows refuses a path it opens (Python's OSError on Windows), status 1.

    Python words a Windows error as FormatMessage does, without the trailing period.
    """
    line = f"[WinError {error.winerror}] {str(error).rstrip('.')}: {error.windows_path!r}"
    return {"exit_code": 1, "stdout": "", "stderr": f"hyperv-datamover: error: {line}\n"}


def find_component(call: ScriptCall) -> tuple[dict[str, Any], str | None]:
    """What data_mover_run.ps1 and data_mover_start.ps1 both report about the component to run (``component``,
    ``found``, ``outdated``), and the options document when one installed component can run it, else None."""
    # Bound already (lab.handlers.binding): Options a non-empty string, Component the script's default ''.
    wanted, document = call.params["Component"], call.params["Options"]
    chosen, found, outdated = data_mover_records(call, wanted)
    reply: dict[str, Any] = {"component": None, "found": found, "outdated": outdated}
    if len(chosen) != 1:
        return reply, None
    [(name, record)] = chosen.items()
    reply["component"] = installed_component(call, name, record)
    if reply["component"]["Version"] is None or reply["component"]["Missing"]:
        return reply, None
    return reply, document


def data_mover_run(call: ScriptCall) -> dict[str, Any]:
    reply, document = find_component(call)
    if document is None:
        return {**reply, "ran": False, "exit_code": None, "stdout": "", "stderr": ""}
    return {**reply, "ran": True, **run_engine(call, document)}


def register(registry: HandlerRegistry) -> None:
    registry.add("data_mover_run", data_mover_run)
