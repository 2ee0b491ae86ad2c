"""One check of the installed components: each one's folder against its package version's SHA256SUMS.

The package a component came from is `<packages>\\<Version>` (the folder backup.hyperv.proxy_package staged
and verified, docs/installs.md), whose SHA256SUMS lists the component's files under the folder named after
its role. The result is the status document the service writes next to itself.
"""

from __future__ import annotations

import datetime
from pathlib import Path, PureWindowsPath
from typing import Any, Iterable

from .components import Component
from .drift import component_drift, expected_files

SUMS = "SHA256SUMS"


def component_status(component: Component, packages: Path, ignored: frozenset[str]) -> dict[str, Any]:
    """The component's status: its drift, or the error that kept it from being checked."""
    sums = packages / component.version / SUMS
    status: dict[str, Any] = {
        "name": component.name,
        "role": component.role,
        "version": component.version,
        "destination": component.destination,
        "manifest": str(PureWindowsPath(sums)),
        "drift": [],
        "error": None,
    }
    try:
        expected = expected_files(sums.read_text(encoding="utf-8"), component.role)
    except OSError as error:
        status["error"] = f"cannot read the package's manifest: {error.strerror or error}"
        return status
    if not expected:
        status["error"] = f"the package's manifest lists no file under {component.role}/"
        return status
    drift = component_drift(Path(component.destination), expected, ignored)
    status["drift"] = [item.as_dict() for item in drift]
    return status


def ignored_in(destination: str, status_file: Path) -> frozenset[str]:
    """The status file's path relative to `destination` (`/`, lower case), when it lies under it."""
    try:
        relative = PureWindowsPath(status_file).relative_to(PureWindowsPath(destination))
    except ValueError:
        return frozenset()
    return frozenset({relative.as_posix().lower()})


def check(components: Iterable[Component], packages: Path, status_file: Path) -> dict[str, Any]:
    """The status document of one check of `components`."""
    statuses = [
        component_status(component, packages, ignored_in(component.destination, status_file))
        for component in components
    ]
    return {
        "checked_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "packages": str(PureWindowsPath(packages)),
        "drift": any(status["drift"] for status in statuses),
        "errors": any(status["error"] for status in statuses),
        "components": statuses,
    }


def summary(status: dict[str, Any]) -> str:
    """The event's text: one line per component with drift or an error, or that all are as built."""
    lines = []
    for component in status["components"]:
        if component["error"]:
            lines.append(f"{component['name']} {component['version']}: {component['error']}")
        for item in component["drift"]:
            lines.append(f"{component['name']} {component['version']}: {item['kind']} {item['path']}")
    if not lines:
        names = ", ".join(component["name"] for component in status["components"]) or "none recorded"
        return f"The installed components are as their packages built them ({names})."
    return "Drift in the installed components:\n" + "\n".join(lines)
