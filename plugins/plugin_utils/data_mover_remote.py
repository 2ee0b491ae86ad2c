"""The data mover on a Windows proxy: what ``data_mover_run.ps1`` is sent, and what its reply means.

On a proxy the data mover is a component ``proxy_components`` installed (requirement R3): a Python
runtime and the engine (``datamover.pyz``, the ``hyperv-datamover`` command line) in the component's
destination folder. The action plugin turns the module's options into the engine's command line
(``engine_arguments``), quotes it the way the engine's C runtime splits it (``list2cmdline``, the
Microsoft C runtime rules), and sends it with the component's layout; the passphrase travels only as
a script parameter on stdin and reaches the engine in its environment (``BACKUP_HYPERV_PASSPHRASE``).

Options whose value the engine reads from a file (``--changed-ranges``, ``--job``) travel as JSON in the
script parameter ``InputFiles``; the script writes each to its temporary folder and passes the file.

Words: the *layout* is where the component lives (``Name``, ``Destination``, and ``Runtime`` and
``Engine`` relative to it), read from the manifest's component whose role is ``data_mover``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import check_windows_path, check_windows_paths

SCRIPT = "data_mover_run"
COMPONENT_RECORD = "HKLM:\\SOFTWARE\\backup.hyperv\\Components"

# The default manifest's data mover (roles/offhost_proxy/defaults/main.yml; a unit test compares them).
DEFAULT_LAYOUT = {
    "Name": "data_mover",
    "Destination": "C:\\Program Files\\backup.hyperv\\DataMover",
    "Runtime": "python\\python.exe",
    "Engine": "datamover.pyz",
}

# Engine exit statuses (docs/datamover.md, "The command line").
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DAMAGE = 0, 1, 2, 3
_ERROR_PREFIX = "hyperv-datamover: error: "
_MASK = "********"


class RemoteRequestError(ValueError):
    """A request the engine on a Windows proxy cannot serve (a manifest without the engine).

    A path the proxy's Windows would refuse raises ``windows_path.WindowsPathError`` instead.
    """


def data_mover_layout(manifest: Any) -> dict[str, str]:
    """The layout of the manifest's ``data_mover`` component; raises RemoteRequestError naming what is missing."""
    components = validate_manifest(manifest)["components"]
    component = next((c for c in components if c["role"] == "data_mover"), None)
    if component is None:
        raise RemoteRequestError("the manifest has no component with role data_mover (requirement R3)")
    files = [entry["path"] for entry in component["files"]]
    runtime = next((path for path in files if path.lower().rsplit("\\", 1)[-1] == "python.exe"), None)
    engine = next((path for path in files if path.lower().endswith(".pyz")), None)
    if runtime is None or engine is None:
        raise RemoteRequestError(
            f"component {component['name']}: files must name the Python runtime (python.exe) and the engine (.pyz)"
        )
    return {"Name": component["name"], "Destination": component["destination"], "Runtime": runtime, "Engine": engine}


def _require_absolute(option: str, path: Any) -> str:
    """An absolute path Windows takes as written (the engine accepts '/'); raises WindowsPathError naming it."""
    return check_windows_path(option, path, absolute=True)


def _is_job(args: Mapping[str, Any]) -> bool:
    return args["operation"] in ("backup", "restore") and args.get("jobs") is not None


def _entry_paths(entry: Any) -> Iterator[tuple[str, Any]]:
    """(key, path) of every path in a job entry; a malformed entry is left for the engine to name."""
    if not isinstance(entry, Mapping):
        return
    sources, ranges = entry.get("sources"), entry.get("changed_ranges")
    yield from (("sources", path) for path in (sources if isinstance(sources, list) else []))
    yield from (("changed_ranges", path) for path in (ranges if isinstance(ranges, Mapping) else {}))
    if entry.get("destination") is not None:
        yield "destination", entry["destination"]


def _require_absolute_job_paths(jobs: Any) -> None:
    """Every path of every entry is the proxy's, as the single-VM options are; raises naming the entry."""
    for index, entry in enumerate(jobs if isinstance(jobs, list) else []):
        for key, path in _entry_paths(entry):
            _require_absolute(f"jobs[{index}].{key}", path)


def _backup_options(args: Mapping[str, Any]) -> list[str]:
    """The options of a backup that apply to every VM (of a job, too)."""
    options = ["--block-size", str(args["block_size"]), "--compression", args["compression"]]
    options += ["--hash", args["hash"]]
    options += ["--encryption", args["encryption"]] if args.get("encryption") else []
    # only when not the default, so that an engine installed before --kdf existed still takes the line
    options += ["--kdf", args["kdf"]] if args.get("kdf") not in (None, "scrypt") else []
    options += ["--workers", str(args["workers"])] if args.get("workers") else []
    return options


def _job_arguments(args: Mapping[str, Any], repository: str, dry_run: list[str]) -> list[str]:
    """A backup or restore job: the VMs and their paths are in the job file (InputFiles), not here."""
    _require_absolute_job_paths(args["jobs"])
    # A restore entry carries its own restore_point, format and overwrite.
    options = _backup_options(args) if args["operation"] == "backup" else []
    return [args["operation"], repository, *options, *dry_run]


def _operation_arguments(args: Mapping[str, Any], check_mode: bool) -> list[str]:
    """The operation's positional arguments and options, as ``hyperv-datamover <operation> --help`` lists them."""
    operation, repository = args["operation"], _require_absolute("repository", args["repository"])
    vm = ["--vm", args["vm"]] if args.get("vm") else []
    dry_run = ["--dry-run"] if check_mode else []
    if _is_job(args):
        return _job_arguments(args, repository, dry_run)
    if operation == "backup":
        sources = check_windows_paths("source", args["source"], absolute=True)
        for path in args.get("changed_ranges") or {}:
            check_windows_path("changed_ranges", path)
        return ["backup", repository, *sources, *vm, *_backup_options(args), *dry_run]
    if operation == "restore":
        destination = _require_absolute("destination", args["destination"])
        options = ["--restore-point", args["restore_point"], "--format", args["format"]]
        options += ["--overwrite"] if args.get("overwrite") else []
        return ["restore", repository, destination, *vm, *options, *dry_run]
    if operation == "verify":  # the module's default 'latest' means every restore point, as in-process
        point = args.get("restore_point")
        return ["verify", repository, *vm, *(["--restore-point", point] if point and point != "latest" else [])]
    if operation == "list":
        return ["list", repository, *vm]
    return ["prune", repository, "--keep-last", str(args["keep_last"]), *vm, *dry_run]


def engine_arguments(args: Mapping[str, Any], check_mode: bool) -> list[str]:
    """The engine's argv (without the program) for the module's validated options; never the passphrase."""
    common = ["--json", "--no-progress", "--lock-timeout", str(float(args.get("lock_timeout") or 0))]
    return [*_operation_arguments(args, check_mode), *common]


def input_files(args: Mapping[str, Any]) -> dict[str, str]:
    """{engine option without dashes: JSON}: what the engine reads from a file the script writes."""
    if _is_job(args):
        values = {"job": args["jobs"]}
    elif args["operation"] == "backup" and args.get("changed_ranges") is not None:
        values = {"changed-ranges": args["changed_ranges"]}
    else:
        values = {}
    return {option: json.dumps(value, separators=(",", ":")) for option, value in values.items()}


def script_params(args: Mapping[str, Any], check_mode: bool, layout: Mapping[str, str]) -> dict[str, Any]:
    """Parameters of ``data_mover_run.ps1``; the passphrase and the input files go on stdin with them."""
    return {
        "Component": dict(layout),
        "CommandLine": subprocess.list2cmdline(engine_arguments(args, check_mode)),
        "InputFiles": input_files(args),
        "Passphrase": args.get("passphrase") or "",
    }


def not_installed_message(host: str, component: Mapping[str, Any]) -> str:
    """R3's failure: what is missing on the proxy, and how to install it."""
    if component.get("Version") is None:
        what = f"no version record {COMPONENT_RECORD}\\{component.get('Name')}"
    else:
        missing = ", ".join(str(path) for path in component.get("Missing") or [])
        what = f"version {component['Version']} is recorded but {missing} is missing in {component.get('Destination')}"
    return (
        f"R3: the data mover component {component.get('Name')!r} is not installed on {host} ({what}). "
        "Install it with the backup.hyperv.offhost_proxy role, or backup.hyperv.proxy_components with a "
        "manifest whose data_mover component ships the Python runtime and datamover.pyz."
    )


def mask(value: Any, secret: str | None) -> Any:
    """``value`` with every occurrence of ``secret`` in its strings replaced."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, _MASK)
    if isinstance(value, Mapping):
        return {key: mask(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item, secret) for item in value]
    return value


def _error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line[len(_ERROR_PREFIX) :] for line in lines if line.startswith(_ERROR_PREFIX)]
    return (errors or lines or ["no error message"])[-1]


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _failed_job_result(code: Any, stdout: str, stderr: str) -> dict[str, Any] | None:
    """A job whose VMs did not all succeed (status 1, JSON with ``failed_vms``): the per-VM results, failed."""
    result = _json_object(stdout) if code == EXIT_ERROR else None
    if result is None or not result.get("failed_vms"):
        return None
    # The engine's last error line is "<operation> failed for VM a, b".
    result.update(failed=True, msg=f"data mover: {_error_line(stderr)}", rc=code)
    return result


def engine_result(reply: Mapping[str, Any], repository: str) -> dict[str, Any]:
    """The task result of an engine run on the proxy (the reply's ``ran`` is true)."""
    code, stdout, stderr = reply.get("exit_code"), str(reply.get("stdout") or ""), str(reply.get("stderr") or "")
    failed_job = _failed_job_result(code, stdout, stderr)
    if failed_job is not None:
        return failed_job
    if code not in (EXIT_OK, EXIT_DAMAGE):
        return {"failed": True, "msg": f"data mover: {_error_line(stderr)}", "rc": code, "stderr": stderr}
    result = _json_object(stdout)
    if result is None:
        return {
            "failed": True,
            "msg": "data mover printed no JSON result",
            "rc": code,
            "stdout": stdout,
            "stderr": stderr,
        }
    if code == EXIT_DAMAGE or not result.get("ok", True):
        result.update(failed=True, msg=f"verification found damage in {repository}")
    return result
