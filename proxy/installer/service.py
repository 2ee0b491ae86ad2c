"""The service's work: check on start and every interval (or on control 128), write the status, report changes."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import threading
from pathlib import Path
from typing import Any

from . import eventlog
from .check import check, summary
from .components import recorded_components


def event_of(status: dict[str, Any]) -> tuple[int, int]:
    """(event type, event id) of a status: an error first, then drift, else as built."""
    if status.get("failed") or status.get("errors"):
        return eventlog.ERROR, eventlog.CHECK_FAILED
    if status["drift"]:
        return eventlog.WARNING, eventlog.DRIFT
    return eventlog.INFORMATION, eventlog.AS_BUILT


def checked(packages: Path, status_file: Path) -> dict[str, Any]:
    """One check's status; a check that fails is a status too, so that the service keeps running."""
    try:
        return check(recorded_components(), packages, status_file)
    except Exception as error:  # any failure is reported; the next check may succeed
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return {"checked_at": now, "failed": f"{type(error).__name__}: {error}", "drift": False, "components": []}


def write_status(status_file: Path, status: dict[str, Any]) -> None:
    """Replace the status file in one step: the collection never reads half a document."""
    partial = status_file.with_name(status_file.name + ".partial")
    partial.write_text(json.dumps(status, indent=2), encoding="utf-8")
    os.replace(partial, status_file)


def report_failure(error: Exception) -> None:
    """The event of a service whose work failed (it then stops as failed, and its recovery actions run)."""
    text = f"the installer service stopped: {type(error).__name__}: {error}"
    eventlog.report(eventlog.ERROR, eventlog.CHECK_FAILED, text)


class Checker:
    """Checks, writes the status file, and reports to the event log when the result's text changed."""

    def __init__(self, packages: Path, status_file: Path) -> None:
        self.packages, self.status_file = packages, status_file
        self.reported: str | None = None
        self.checks = 0  # numbers each status: two checks within one second differ

    def once(self) -> dict[str, Any]:
        self.checks += 1
        status = {"check": self.checks, **checked(self.packages, self.status_file)}
        text = status.get("failed") or summary(status)
        event_type, event_id = event_of(status)
        repeated = text == self.reported  # the same result as the last event's is not written again
        written = repeated or eventlog.report(event_type, event_id, text)
        status["event"] = {"id": event_id, "written": written, "repeated": repeated}
        self.reported = text if written else None
        write_status(self.status_file, status)
        return status

    def run(self, interval: float, stop: threading.Event, wake: threading.Event) -> None:
        with contextlib.suppress(OSError):  # not fatal: Event Viewer then shows the events without their text
            eventlog.register_source()
        while not stop.is_set():
            self.once()
            wake.wait(interval)
            wake.clear()
