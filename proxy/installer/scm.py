"""A Windows service process through advapi32's service functions (ctypes), for one own-process service.

"StartServiceCtrlDispatcherW": https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-startservicectrldispatcherw
(the process's main thread connects to the service control manager and runs ServiceMain on a thread of its own),
"ServiceMain": https://learn.microsoft.com/windows/win32/api/winsvc/nc-winsvc-lpservice_main_functionw,
"RegisterServiceCtrlHandlerExW": https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-registerservicectrlhandlerexw,
"SetServiceStatus": https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-setservicestatus.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import wintypes
from typing import Callable

SERVICE_WIN32_OWN_PROCESS = 0x10
STOPPED, START_PENDING, STOP_PENDING, RUNNING = 1, 2, 3, 4
ACCEPT_STOP, ACCEPT_SHUTDOWN = 0x1, 0x4
CONTROL_STOP, CONTROL_INTERROGATE, CONTROL_SHUTDOWN = 1, 4, 5
CONTROL_CHECK_NOW = 128  # user-defined controls are 128-255: `sc control BackupHyperVInstaller 128`
NO_ERROR, ERROR_CALL_NOT_IMPLEMENTED = 0, 120
# A stop that is a failure: dwWin32ExitCode ERROR_SERVICE_SPECIFIC_ERROR with the reason in dwServiceSpecificExitCode
# (SERVICE_STATUS, https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_status). With the
# service's FailureActionsOnNonCrashFailures flag set (`sc.exe failureflag <name> 1`, which proxy_components sets
# with the recovery actions), the service control manager then runs its failure actions, as for a crash
# (SERVICE_FAILURE_ACTIONS_FLAG, https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actions_flag).
ERROR_SERVICE_SPECIFIC_ERROR = 1066
WORK_FAILED = 1  # dwServiceSpecificExitCode: the service's work raised (its event says what)


class ServiceStatus(ctypes.Structure):
    _fields_ = [
        (name, wintypes.DWORD)
        for name in (
            "dwServiceType",
            "dwCurrentState",
            "dwControlsAccepted",
            "dwWin32ExitCode",
            "dwServiceSpecificExitCode",
            "dwCheckPoint",
            "dwWaitHint",
        )
    ]


HandlerEx = ctypes.WINFUNCTYPE(wintypes.DWORD, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.LPVOID)
ServiceMainW = ctypes.WINFUNCTYPE(None, wintypes.DWORD, ctypes.POINTER(wintypes.LPWSTR))


class ServiceTableEntry(ctypes.Structure):
    _fields_ = [("lpServiceName", wintypes.LPWSTR), ("lpServiceProc", ServiceMainW)]


def advapi32() -> ctypes.WinDLL:
    library = ctypes.WinDLL("advapi32", use_last_error=True)
    library.StartServiceCtrlDispatcherW.argtypes = [ctypes.POINTER(ServiceTableEntry)]
    library.StartServiceCtrlDispatcherW.restype = wintypes.BOOL
    library.RegisterServiceCtrlHandlerExW.argtypes = [wintypes.LPCWSTR, HandlerEx, wintypes.LPVOID]
    library.RegisterServiceCtrlHandlerExW.restype = wintypes.HANDLE
    library.SetServiceStatus.argtypes = [wintypes.HANDLE, ctypes.POINTER(ServiceStatus)]
    library.SetServiceStatus.restype = wintypes.BOOL
    return library


class Service:
    """Runs `work(stop, wake)` as the service: `stop` is set on a stop or shutdown control, `wake` on either
    and on CONTROL_CHECK_NOW. The service is RUNNING while `work` runs and STOPPED when it returns; when it raises,
    `failed(error)` is told and the stop says the service failed (WORK_FAILED), so its failure actions run."""

    def __init__(
        self,
        work: Callable[[threading.Event, threading.Event], None],
        failed: Callable[[Exception], None] = lambda error: None,
    ) -> None:
        self.work, self.failed, self.library = work, failed, advapi32()
        self.stop, self.wake = threading.Event(), threading.Event()
        self.handle: int | None = None
        # The callbacks are kept referenced here: ctypes frees a callback whose object is collected.
        self.main_callback, self.handler_callback = ServiceMainW(self.service_main), HandlerEx(self.handler)

    def run(self) -> None:
        """Hand the main thread to the service control manager until the service stops."""
        table = (ServiceTableEntry * 2)(ServiceTableEntry("", self.main_callback), ServiceTableEntry())
        if not self.library.StartServiceCtrlDispatcherW(table):
            raise ctypes.WinError(ctypes.get_last_error())  # 1063: not started by the service control manager

    def set_status(self, state: int, exit_code: int = NO_ERROR, specific: int = 0) -> None:
        accepted = ACCEPT_STOP | ACCEPT_SHUTDOWN if state == RUNNING else 0
        status = ServiceStatus(SERVICE_WIN32_OWN_PROCESS, state, accepted, exit_code, specific, 0, 10_000)
        self.library.SetServiceStatus(self.handle, ctypes.byref(status))

    def service_main(self, argc: int, argv: ctypes.Array) -> None:
        self.handle = self.library.RegisterServiceCtrlHandlerExW(argv[0], self.handler_callback, None)
        if not self.handle:
            return
        self.set_status(START_PENDING)
        self.set_status(RUNNING)
        exit_code, specific = NO_ERROR, 0
        try:
            self.work(self.stop, self.wake)
        except Exception as error:  # a failure, not a stop: nothing above this callback would see it
            exit_code, specific = ERROR_SERVICE_SPECIFIC_ERROR, WORK_FAILED
            self.failed(error)
        finally:
            self.set_status(STOPPED, exit_code, specific)

    def handler(self, control: int, event_type: int, event_data: int, context: int) -> int:
        if control in (CONTROL_STOP, CONTROL_SHUTDOWN):
            self.set_status(STOP_PENDING)
            self.stop.set()
            self.wake.set()
        elif control == CONTROL_CHECK_NOW:
            self.wake.set()
        elif control != CONTROL_INTERROGATE:
            return ERROR_CALL_NOT_IMPLEMENTED
        return NO_ERROR
