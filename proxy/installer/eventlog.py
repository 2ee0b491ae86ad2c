"""The Application event log, through advapi32 (ctypes: the embeddable CPython carries no pywin32).

"ReportEventW": https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-reporteventw
"RegisterEventSourceW": https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-registereventsourcew
"Event Sources": https://learn.microsoft.com/windows/win32/eventlog/event-sources (the source's registry key
under ...\\EventLog\\Application, whose EventMessageFile turns an event id and its strings into the text
Event Viewer shows).
"""

from __future__ import annotations

import ctypes
from ctypes import wintypes

SOURCE = "BackupHyperVInstaller"
SOURCE_KEY = rf"SYSTEM\CurrentControlSet\Services\EventLog\Application\{SOURCE}"
# .NET Framework 4's message file: every event id 0-65535 is the message "%1", so an event shows its one string.
# Windows Server 2016 and later carry .NET Framework 4.6 or later in the box.
MESSAGE_FILE = r"%SystemRoot%\Microsoft.NET\Framework64\v4.0.30319\EventLogMessages.dll"
INFORMATION, WARNING, ERROR = 0x0004, 0x0002, 0x0001  # EVENTLOG_*_TYPE
AS_BUILT, DRIFT, CHECK_FAILED = 1, 2, 3  # the event ids (docs/installs.md, "The installer service")


def register_source() -> None:
    """Create the source's key when missing (the service runs as LocalSystem, which may write it)."""
    import winreg

    with winreg.CreateKeyEx(winreg.HKEY_LOCAL_MACHINE, SOURCE_KEY, 0, winreg.KEY_READ | winreg.KEY_WRITE) as key:
        try:
            winreg.QueryValueEx(key, "EventMessageFile")
        except FileNotFoundError:
            winreg.SetValueEx(key, "EventMessageFile", 0, winreg.REG_EXPAND_SZ, MESSAGE_FILE)
            winreg.SetValueEx(key, "TypesSupported", 0, winreg.REG_DWORD, INFORMATION | WARNING | ERROR)


def advapi32() -> ctypes.WinDLL:
    library = ctypes.WinDLL("advapi32", use_last_error=True)
    library.RegisterEventSourceW.argtypes = [wintypes.LPCWSTR, wintypes.LPCWSTR]
    library.RegisterEventSourceW.restype = wintypes.HANDLE
    library.ReportEventW.argtypes = [
        wintypes.HANDLE,  # hEventLog
        wintypes.WORD,  # wType
        wintypes.WORD,  # wCategory
        wintypes.DWORD,  # dwEventID
        wintypes.LPVOID,  # lpUserSid
        wintypes.WORD,  # wNumStrings
        wintypes.DWORD,  # dwDataSize
        ctypes.POINTER(wintypes.LPCWSTR),  # lpStrings
        wintypes.LPVOID,  # lpRawData
    ]
    library.ReportEventW.restype = wintypes.BOOL
    library.DeregisterEventSource.argtypes = [wintypes.HANDLE]
    return library


def report(event_type: int, event_id: int, text: str) -> bool:
    """Write one event with one string to the Application log; whether Windows accepted it."""
    library = advapi32()
    handle = library.RegisterEventSourceW(None, SOURCE)
    if not handle:
        return False
    try:
        strings = (wintypes.LPCWSTR * 1)(text)
        return bool(library.ReportEventW(handle, event_type, 0, event_id, None, 1, 0, strings, None))
    finally:
        library.DeregisterEventSource(handle)
