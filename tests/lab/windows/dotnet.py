"""What .NET Framework refuses a Windows PowerShell 5.1 script: a FileStream opened on a `\\\\.\\` device path.

Under .NET Framework's legacy path handling (an application targeting a framework before 4.6.2, or the
`Switch.System.IO.UseLegacyPathHandling` AppContext switch a host may set) FileStream's path constructors refuse
a Win32 device path such as `\\\\.\\PhysicalDrive1` with an ArgumentException ("Mitigation: Path normalization",
https://learn.microsoft.com/dotnet/framework/migration-guide/mitigation-path-normalization). Opening the device
with CreateFileW and giving FileStream the SafeFileHandle works on every host ("CreateFileW function", section
"Physical Disks and Volumes", https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew).

A host's `legacy_path_handling` estate option turns the refusal on; the script's text decides whether it applies
(`opens_device_by_path`), so a script that goes back to FileStream on a path fails a test here.
"""

from __future__ import annotations

import re

from lab.windows.script_code import code

# ArgumentException's message, as PowerShell's MethodInvocationException wraps it for `[IO.FileStream]::new(...)`.
DEVICE_PATH_REFUSED = (
    'Exception calling ".ctor" with "4" argument(s): "FileStream will not open Win32 devices such as disk '
    'partitions and tape drives. Avoid use of "\\\\.\\" in the path."'
)
_CONSTRUCTION = re.compile(
    r"(?:\[(?:System\.)?IO\.FileStream\]::new|New-Object\s+(?:-TypeName\s+)?(?:System\.)?IO\.FileStream)"
    r"\s*\(?\s*(?P<first>[^,)]+)",
    re.IGNORECASE,
)
_DEVICE = "\\\\.\\"  # the \\.\ prefix


def _assigned_device_path(text: str, variable: str) -> bool:
    assignment = re.compile(rf"^\s*{re.escape(variable)}\s*=\s*(?P<value>.+)$", re.MULTILINE | re.IGNORECASE)
    values = [found["value"].strip() for found in assignment.finditer(text)]
    return any(value[:1] in "'\"" and _DEVICE in value for value in values)  # a string, not a handle from a call


def opens_device_by_path(script_name: str) -> bool:
    """Whether the script hands FileStream a `\\\\.\\` path: a literal, or a variable assigned a string with one."""
    text = code(script_name)
    for found in _CONSTRUCTION.finditer(text):
        first = found["first"].strip()
        if _DEVICE in first or (first.startswith("$") and _assigned_device_path(text, first)):
            return True
    return False
