"""The data mover on a Windows proxy: which paths may be sent, and what the engine's result means.

On a proxy the data mover is a component ``proxy_components`` installed (requirement R3): a Python
runtime and the engine (``datamover.pyz``, the ``hyperv-datamover`` command line) in the component's
destination folder. The action plugin checks the module's options once (ansible-core's argument spec,
then ``DataMoverOptions.from_params``) and sends the options object as one JSON document
(``DataMoverOptions.to_json``), and the name of the component when the task gives one. The start script
finds the data mover by the record ``proxy_components`` wrote on the proxy (``desired_state/component_record.py``:
role ``data_mover``, its destination, runtime and engine) and runs it as a scheduled task
(``data_mover_job.py``); here: the paths' checks, why nothing ran (R3), and the task result of the engine's
exit code, stdout and stderr. The engine runs the same entry point as the module (``operations.run``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.verdicts import EXIT_DAMAGE, damage_found
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import check_windows_path, check_windows_paths

COMPONENT_RECORD = "HKLM:\\SOFTWARE\\backup.hyperv\\Components"
_REMEDY = (
    "Install it with the backup.hyperv.offhost_proxy role, or backup.hyperv.proxy_components with a "
    "manifest whose data_mover component ships the Python runtime and datamover.pyz."
)

# Engine exit statuses (docs/datamover.md, "The command line").
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
_ERROR_PREFIX = "hyperv-datamover: error: "
_MASK = "********"


def _require_absolute(option: str, path: Any) -> str:
    """An absolute path Windows takes as written (the engine accepts '/'); raises WindowsPathError naming it."""
    return check_windows_path(option, path, absolute=True)


def _is_job(args: Mapping[str, Any]) -> bool:
    return args["operation"] in ("backup", "restore") and args.get("jobs") is not None


DISK_KEYED = ("changed_ranges", "change_ids")  # options keyed by a disk's path as in the sources, or its file name


def _entry_paths(entry: Any) -> Iterator[tuple[str, Any, bool]]:
    """(key, path, must be absolute) of every path in a job entry; a malformed entry is left for the engine."""
    if not isinstance(entry, Mapping):
        return
    sources = entry.get("sources")
    yield from (("sources", path, True) for path in (sources if isinstance(sources, list) else []))
    for option in DISK_KEYED:
        keyed = entry.get(option)
        yield from ((option, path, False) for path in (keyed if isinstance(keyed, Mapping) else {}))
    if entry.get("destination") is not None:
        yield "destination", entry["destination"], True


def _check_job_paths(jobs: Any) -> None:
    """Every path of every entry is the proxy's, as the single-VM options are; raises naming the entry."""
    for index, entry in enumerate(jobs if isinstance(jobs, list) else []):
        for key, path, absolute in _entry_paths(entry):
            check_windows_path(f"jobs[{index}].{key}", path, absolute=absolute)


def check_paths(args: Mapping[str, Any]) -> None:
    """Every path the engine opens is the proxy's and absolute; raises WindowsPathError naming the option."""
    _require_absolute("repository", args["repository"])
    if args["operation"] == "restore_file":  # the guest path is the guest's; the destination is the proxy's
        _require_absolute("destination", args["destination"])
    if args["operation"] not in ("backup", "restore"):
        return
    if _is_job(args):
        _check_job_paths(args["jobs"])
    elif args["operation"] == "backup":
        check_windows_paths("source", args["source"], absolute=True)
        for option in DISK_KEYED:
            for path in args.get(option) or {}:
                check_windows_path(option, path)
    else:
        _require_absolute("destination", args["destination"])


def not_run_message(host: str, reply: Mapping[str, Any], wanted: str | None) -> str:
    """Why the script ran nothing: R3 and how to install it, or which of several data movers to pick."""
    component, found = reply.get("component"), [str(name) for name in reply.get("found") or []]
    if component:
        return _not_installed(host, component)
    if wanted is None and len(found) > 1:
        return (
            f"{host} has several data mover components ({', '.join(found)}): set the option component to the one to run"
        )
    if wanted is not None:
        what = f"data mover components installed: {', '.join(found) or 'none'}"
        return f"R3: the data mover component {wanted!r} is not installed on {host} ({what}). {_REMEDY}"
    what = f"no record with Role data_mover under {COMPONENT_RECORD}"
    outdated = [str(name) for name in reply.get("outdated") or []]
    if outdated:
        what += (
            f"; records without Role (written by an older version): {', '.join(outdated)}: run "
            "backup.hyperv.proxy_components (or the backup.hyperv.offhost_proxy role) again to bring them up to date"
        )
    return f"R3: the data mover component is not installed on {host} ({what}). {_REMEDY}"


def _not_installed(host: str, component: Mapping[str, Any]) -> str:
    """R3 for the data mover record found: its version is not recorded, or a file is missing."""
    if component.get("Version") is None:
        what = f"no version record {COMPONENT_RECORD}\\{component.get('Name')}"
    else:
        missing = ", ".join(str(path) for path in component.get("Missing") or [])
        what = f"version {component['Version']} is recorded but {missing} is missing in {component.get('Destination')}"
    return f"R3: the data mover component {component.get('Name')!r} is not installed on {host} ({what}). {_REMEDY}"


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


def engine_result(reply: Mapping[str, Any], repository: str, operation: str) -> dict[str, Any]:
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
    damage = damage_found(operation, result, repository)
    if damage:
        result.update(failed=True, msg=damage)
    return result
