"""The installer service's status to the service control manager: a work function that raises stops the service
as failed (ERROR_SERVICE_SPECIFIC_ERROR), so that its failure actions run, and says why in the event log."""

from __future__ import annotations

import ctypes
import importlib
import threading
from typing import Any

import pytest


class FakeAdvapi:
    """advapi32 as the service sees it: every SERVICE_STATUS it reports, in order."""

    def __init__(self) -> None:
        self.statuses: list[tuple[int, int, int]] = []

    def RegisterServiceCtrlHandlerExW(self, name: str, handler: Any, context: Any) -> int:
        return 1

    def SetServiceStatus(self, handle: int, status: Any) -> int:
        reported = status._obj
        self.statuses.append((reported.dwCurrentState, reported.dwWin32ExitCode, reported.dwServiceSpecificExitCode))
        return 1


@pytest.fixture
def scm(monkeypatch):
    # ctypes on Linux has no WINFUNCTYPE: the callbacks' types are the C ones here, the fake stands in for advapi32.
    monkeypatch.setattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE, raising=False)
    module = importlib.reload(importlib.import_module("proxy.installer.scm"))
    fake = FakeAdvapi()
    monkeypatch.setattr(module, "advapi32", lambda: fake)
    return module, fake


def test_work_that_ends_stops_the_service_cleanly(scm):
    module, fake = scm
    module.Service(lambda stop, wake: None).service_main(1, ["BackupHyperVInstaller"])
    assert fake.statuses == [(module.START_PENDING, 0, 0), (module.RUNNING, 0, 0), (module.STOPPED, 0, 0)]


def test_work_that_raises_stops_the_service_as_failed_and_says_why(scm):
    module, fake = scm
    seen: list[Exception] = []

    def work(stop: threading.Event, wake: threading.Event) -> None:
        raise PermissionError(13, "The process cannot access the file because it is being used by another process")

    module.Service(work, seen.append).service_main(1, ["BackupHyperVInstaller"])
    assert fake.statuses[-1] == (module.STOPPED, module.ERROR_SERVICE_SPECIFIC_ERROR, module.WORK_FAILED)
    assert [type(error) for error in seen] == [PermissionError]
