"""The owner and DACL of an emulated host's folders, as SDDL in its state document (`folder_security`).

Only folders whose security was set are recorded, by their upper-case Windows path. Any other folder has what a
folder made below a drive root inherits on Windows Server (the lab's assumption, from the root's default ACL:
SYSTEM and Administrators Full control, CREATOR OWNER, Users read and execute, create folders and append), every
entry marked inherited (`ID`), inheritance not removed (no `P`). A folder created anew starts there again.
Writing a protected DACL records owner and DACL as Windows reads them back: `O:<owner>D:PAI(...)`, rights Full
control as `FA`, SIDs as `lab.windows.accounts.sddl_trustee` writes them ("Security Descriptor String Format",
https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

STATE_KEY = "folder_security"
INHERITED_SDDL = (
    "O:BAD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)"
    "(A;CIID;LC;;;BU)(A;CIID;DC;;;BU)"
)


def folder_key(windows_path: str) -> str:
    """Folder names compare case-blind on NTFS; a trailing backslash names the same folder."""
    return windows_path.rstrip("\\").upper()


def folder_sddl(state: dict[str, Any], windows_path: str) -> str:
    return state.get(STATE_KEY, {}).get(folder_key(windows_path), INHERITED_SDDL)


def forget_folder(state: dict[str, Any], windows_path: str) -> None:
    """A folder made anew inherits again: whatever was recorded for an earlier folder of that path goes."""
    state.get(STATE_KEY, {}).pop(folder_key(windows_path), None)


def protect_folder(state: dict[str, Any], windows_path: str, owner: str, trustees: Sequence[str]) -> str:
    """Record owner and a protected DACL granting Full control (OI, CI) to each trustee; returns the SDDL."""
    sddl = f"O:{owner}D:PAI" + "".join(f"(A;OICI;FA;;;{trustee})" for trustee in trustees)
    state.setdefault(STATE_KEY, {})[folder_key(windows_path)] = sddl
    return sddl
