"""Desired state of a data mover repository's folder on Windows (``backup.hyperv.repository_folder``).

The repository holds every VM's disks, and Windows has no file modes: the folder's DACL decides who reads it,
and its files inherit it. The desired folder exists and has a *protected* DACL (inheritance from the parent
removed, inherited ACEs not kept: ``FileSystemSecurity.SetAccessRuleProtection(true, false)``,
https://learn.microsoft.com/dotnet/api/system.security.accesscontrol.objectsecurity.setaccessruleprotection)
that grants Full control, inherited by sub-folders and files, to SYSTEM, Administrators and the extra
principals, and nothing to anyone else; its owner is Administrators.

Words: a *principal* is an account or group as a task names it (``CONTOSO\\PX1$``) or as a SID string
(``S-1-5-21-...``); its *SID* is what the ACL holds. The read script translates names with
``NTAccount.Translate`` on the host (a name Windows cannot map is refused before anything changes).
The current DACL arrives as SDDL ("Security Descriptor String Format",
https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format; MS-DTYP 2.5.1,
https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/4f4251cc-23b6-44b6-93ba-69688422cb06), parsed
by ``checks.sddl`` and compared by SID: Windows writes well-known SIDs and its own domain's groups as
two-letter aliases (``SY``, ``BA``, ``DA``), which ``resolve_sid`` turns back into SIDs with the domain SID the
read script reports. The comparison ignores ACE order and the ``AI`` flag (Windows sets it when it writes a
DACL); it requires the ``P`` flag (SE_DACL_PROTECTED) and, for each ACE, type, flags (MS-DTYP 2.4.4.1 ACE_HEADER,
https://learn.microsoft.com/openspecs/windows_protocols/ms-dtyp/628ebb1d-c509-4ea0-a10f-77ef97ca4586),
rights mask and SID exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import (
    DOMAIN_RELATIVE_RIDS,
    RIGHT_LETTERS,
    WELL_KNOWN_SIDS,
    SddlError,
    SecurityDescriptor,
    parse_sddl,
    resolve_sid,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import Plan, PlanError
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError, check_windows_path

# "Well-known SIDs" (https://learn.microsoft.com/windows/win32/secauthz/well-known-sids): the same on every
# Windows in every language, so they are never translated from names (BUILTIN\Administrators is
# VORDEFINIERT\Administratoren on a German Windows).
SYSTEM_SID = WELL_KNOWN_SIDS["SY"]
ADMINISTRATORS_SID = WELL_KNOWN_SIDS["BA"]
GRANT_TYPE = "A"  # access allowed
GRANT_FLAGS = ("OI", "CI")  # object inherit + container inherit: the folder, its sub-folders and files
FULL_CONTROL_LETTERS = "FA"  # FILE_ALL_ACCESS, as Windows writes it in SDDL
FULL_CONTROL = RIGHT_LETTERS[FULL_CONTROL_LETTERS]
_DRIVE_FOLDER = re.compile(r"^[A-Za-z]:\\[^\\]")
_SID_STRING = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)

AceKey = tuple[str, tuple[str, ...], int, str, str, str]  # type, flags, mask, SID, object GUIDs


def repository_folder_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.repository_folder`` (without the shared probe options)."""
    return {
        "path": {"type": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present"]},
        "extra_principals": {"type": "list", "elements": "str", "default": []},
    }


def validate_folder_args(args: Mapping[str, Any]) -> str:
    """The folder path, refused when it is not a folder below a drive root of the host itself."""
    path = args["path"]
    try:
        check_windows_path("path", path, absolute=True, forward_slashes=False)
    except WindowsPathError as exc:
        raise PlanError(str(exc)) from exc
    if not _DRIVE_FOLDER.match(path):
        raise PlanError(
            f"path: '{path}' must be a folder on a drive of the host, below its root (D:\\Backup\\repo); for a "
            "repository on an SMB3 share, run the module on the file server with the folder's local path"
        )
    return path.rstrip("\\")


def names_to_translate(args: Mapping[str, Any]) -> list[str]:
    """The extra principals given as names (SID strings need no translation), each once, case-blind."""
    names: dict[str, str] = {}
    for principal in args["extra_principals"]:
        principal = principal.strip()
        if not principal:
            raise PlanError("extra_principals: an empty name is not an account")
        if not _SID_STRING.match(principal):
            names.setdefault(principal.casefold(), principal)
    return list(names.values())


def read_params(path: str, names: Sequence[str]) -> dict[str, Any]:
    """Parameters of repository_folder_read.ps1."""
    return {"Path": path, "Principals": list(names)}


def desired_sids(args: Mapping[str, Any], reply: Mapping[str, Any]) -> list[str]:
    """SYSTEM, Administrators and the extra principals as SIDs, each once, in that order.

    Raises PlanError naming every name the host could not map to a SID (nothing is applied then).
    """
    unmapped = [str(name) for name in reply.get("unmapped") or []]
    if unmapped:
        quoted = ", ".join(f"'{name}'" for name in unmapped)
        raise PlanError(
            f"extra_principals: Windows on the host cannot map {quoted} to an account "
            "(NTAccount.Translate: IdentityNotMappedException); nothing was changed. Check the spelling: "
            "DOMAIN\\name, a computer account ends in $ (CONTOSO\\PROXY1$), or give the SID (S-1-5-21-...)"
        )
    translated = {str(entry["name"]).casefold(): str(entry["sid"]).upper() for entry in reply.get("principals") or []}
    sids = [SYSTEM_SID, ADMINISTRATORS_SID]
    for principal in args["extra_principals"]:
        principal = principal.strip()
        sid = principal.upper() if _SID_STRING.match(principal) else translated[principal.casefold()]
        if sid not in sids:
            sids.append(sid)
    return sids


def trustee(sid: str, domain_sid: str | None) -> str:
    """The SID as Windows writes it in SDDL: its alias when it has one ("SID Strings"), else the SID string."""
    for alias, known in WELL_KNOWN_SIDS.items():
        if known == sid:
            return alias
    return next((alias for alias in DOMAIN_RELATIVE_RIDS if resolve_sid(alias, domain_sid) == sid), sid)


def desired_sddl(sids: Sequence[str], domain_sid: str | None) -> str:
    """Owner Administrators, a protected DACL granting Full control (OI, CI) to each SID, as Windows reads it back."""
    grant = f"{GRANT_TYPE};{''.join(GRANT_FLAGS)};{FULL_CONTROL_LETTERS}"
    aces = "".join(f"({grant};;;{trustee(sid, domain_sid)})" for sid in sids)
    return f"O:BAD:PAI{aces}"


def _ace_keys(descriptor: SecurityDescriptor, domain_sid: str | None) -> list[AceKey] | None:
    """Each ACE of the DACL by what it means, SIDs resolved (an alias we cannot resolve keeps its spelling)."""
    if descriptor.dacl is None or descriptor.dacl.is_null:
        return None
    keys = []
    for ace in descriptor.dacl.aces:
        sid = resolve_sid(ace.trustee, domain_sid) or f"unresolved:{ace.trustee}"
        guids = (ace.object_guid.lower(), ace.inherit_object_guid.lower())
        keys.append((ace.type, tuple(sorted(ace.flags)), ace.mask, sid, *guids))
    return sorted(keys)


def _wanted_keys(sids: Sequence[str]) -> list[AceKey]:
    return sorted((GRANT_TYPE, tuple(sorted(GRANT_FLAGS)), FULL_CONTROL, sid, "", "") for sid in sids)


def security_matches(current: str | None, sids: Sequence[str], domain_sid: str | None) -> bool:
    """Whether the folder's owner and DACL (SDDL ``current``) already are the desired ones for ``sids``."""
    if current is None:
        return False
    try:
        have = parse_sddl(current)
    except SddlError:
        return False  # a descriptor we cannot read is replaced
    if resolve_sid(have.owner or "", domain_sid) != ADMINISTRATORS_SID:
        return False
    protected = have.dacl is not None and "P" in have.dacl.flags
    return protected and _ace_keys(have, domain_sid) == _wanted_keys(sids)


def parse_folder_state(reply: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The folder as the read script saw it; refuses a drive the host lacks and a path that is a file."""
    if not reply["drive_exists"]:
        raise PlanError(f"path: the host has no drive {path[:2].upper()} (for {path}); nothing was changed")
    if reply["exists"] and not reply["container"]:
        raise PlanError(f"path: {path} is a file on the host, not a folder; nothing was changed")
    return {"path": path, "exists": bool(reply["exists"]), "sddl": reply.get("sddl") if reply["exists"] else None}


def plan_folder(reply: Mapping[str, Any], args: Mapping[str, Any]) -> Plan:
    """Steps that create the folder and set its security; ``after`` is the folder as the plan leaves it."""
    path = validate_folder_args(args)
    current = parse_folder_state(reply, path)
    domain_sid = reply.get("domain_sid")
    sids = desired_sids(args, reply)
    steps: list[dict[str, Any]] = []
    if not current["exists"]:
        steps.append({"action": "create_folder", "path": path})
    if not security_matches(current["sddl"], sids, domain_sid):
        steps.append({"action": "set_security", "path": path, "owner": ADMINISTRATORS_SID, "principals": sids})
    after = {"path": path, "exists": True, "sddl": desired_sddl(sids, domain_sid) if steps else current["sddl"]}
    return Plan(steps=steps, before={"folder": current}, after={"folder": after})
