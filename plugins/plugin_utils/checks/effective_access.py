"""Effective file access of one security token against an SDDL security descriptor.

Follows Microsoft's "File Security and Access Rights", "Access Mask Format" and "How DACLs
Control Access to an Object": ACEs are visited in the order stored (canonical order puts explicit
denies first); an allow grants the bits not yet denied, a deny blocks the bits not yet granted;
inherit-only (IO) ACEs do not apply to the object itself; generic rights in an ACE are mapped with
the file generic mapping. A NULL DACL grants everything, an empty DACL nothing.

What a file below a folder gets follows "ACE Inheritance Rules" and "Automatic Propagation of
Inheritable ACEs" (https://learn.microsoft.com/windows/win32/secauthz/ace-inheritance-rules):
a file inherits the folder's OI ACEs; a subfolder inherits CI ACEs as effective ACEs that stay
inheritable, and OI-only ACEs as inherit-only ACEs; NO_PROPAGATE_INHERIT (NP) limits an ACE to
the direct children (the inherited copy loses OI/CI, and an OI-only ACE is not copied into
subfolders at all). A file ``depth`` folders below the share root is modelled as inheriting
through ``depth`` subfolders that carry no explicit ACEs and do not block inheritance: the facts
hold the shared folder's ACL only.

"Read" here is FILE_GENERIC_READ (0x120089): FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA
| READ_CONTROL | SYNCHRONIZE, the mask the "Read" file permission and SDDL ``FR`` stand for. On a
folder FILE_READ_DATA is FILE_LIST_DIRECTORY. Traverse is not required (bypass traverse checking
is granted to Everyone by default). Object ACEs (OA/OD, directory objects) never apply to files;
conditional ACEs (XA/XD) cannot be evaluated offline: XA never grants, XD always denies.

An ACE whose trustee cannot be told in or out of the token (an alias such as DC with no domain to resolve it
against, or a domain group when the token's group memberships are unknown) is *uncertain*: the verdict is
worked out with such ACEs applying and not applying (denies applying, grants not: the worst case; the reverse:
the best), and when the two differ the result is ``undecided`` and names them, rather than a verdict that holds
only if they do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import (
    DOMAIN_RELATIVE_RIDS,
    Ace,
    SecurityDescriptor,
    format_ace,
    resolve_sid,
)

FILE_READ_DATA = 0x1
FILE_READ_EA = 0x8
FILE_EXECUTE = 0x20
FILE_READ_ATTRIBUTES = 0x80
READ_CONTROL = 0x20000
SYNCHRONIZE = 0x100000
FILE_GENERIC_READ = READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE  # 0x120089
FILE_GENERIC_WRITE = 0x120116
FILE_GENERIC_EXECUTE = 0x1200A0
FILE_ALL_ACCESS = 0x1F01FF
READ_ACCESS = FILE_GENERIC_READ

GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
GENERIC_EXECUTE = 0x20000000
GENERIC_ALL = 0x10000000
FILE_GENERIC_MAPPING = (
    (GENERIC_READ, FILE_GENERIC_READ),
    (GENERIC_WRITE, FILE_GENERIC_WRITE),
    (GENERIC_EXECUTE, FILE_GENERIC_EXECUTE),
    (GENERIC_ALL, FILE_ALL_ACCESS),
)
ALLOW_TYPES = frozenset({"A", "XA"})
DENY_TYPES = frozenset({"D", "XD"})


def map_generic(mask: int) -> int:
    """Replace generic bits by the file-specific rights they stand for (file generic mapping)."""
    for generic, specific in FILE_GENERIC_MAPPING:
        if mask & generic:
            mask = (mask & ~generic) | specific
    return mask


@dataclass(frozen=True)
class AccessResult:
    """What a token may do: ``granted`` mask and the ACEs that decided the read bits."""

    granted: int
    readable: bool
    granted_by: tuple[str, ...]
    denied_by: tuple[str, ...]
    unresolved: tuple[str, ...]
    canonical: bool
    note: str = ""
    domain_aliases: tuple[str, ...] = ()  # domain-relative trustees (DC, DU...) of the ACEs that applied
    undecided: tuple[str, ...] = ()  # uncertain trustees whose ACEs would change the read verdict

    def to_evidence(self) -> dict[str, object]:
        return {
            "granted_mask": f"0x{self.granted:x}",
            "readable": self.readable,
            **({"undecided_by": list(self.undecided)} if self.undecided else {}),
            "granted_by": list(self.granted_by),
            "denied_by": list(self.denied_by),
            "unresolved_trustees": list(self.unresolved),
            "canonical_order": self.canonical,
            "domain_relative_aliases": list(self.domain_aliases),
            **({"note": self.note} if self.note else {}),
        }


def applies_to_object(ace: Ace) -> bool:
    return not ace.has("IO")


AUDIT_FLAGS = ("SA", "FA")  # success/failure audit: carried over unchanged, irrelevant to access


def inherited_by_files(aces: Iterable[Ace]) -> tuple[Ace, ...]:
    """The ACEs a new file created in this folder inherits (object-inherit), as they apply to it."""
    return tuple(
        Ace(ace.type, ("ID", *(f for f in ace.flags if f in AUDIT_FLAGS)), ace.mask, ace.trustee)
        for ace in aces
        if ace.has("OI")
    )


def _container_copy_flags(ace: Ace) -> tuple[str, ...] | None:
    """Flags of the copy a subfolder inherits of ``ace``; None when it inherits none."""
    audit = tuple(f for f in ace.flags if f in AUDIT_FLAGS)
    if ace.has("CI"):  # effective on the subfolder; inheritable further unless NP
        inherit = () if ace.has("NP") else tuple(f for f in ("OI", "CI") if ace.has(f))
        return ("ID", *inherit, *audit)
    if ace.has("OI") and not ace.has("NP"):  # passed on to the subfolder's files only
        return ("ID", "OI", "IO", *audit)
    return None


def inherited_by_container(aces: Iterable[Ace]) -> tuple[Ace, ...]:
    """The ACEs a new subfolder created in this folder inherits, in the same order."""
    inherited = []
    for ace in aces:
        flags = _container_copy_flags(ace)
        if flags is not None:
            inherited.append(Ace(ace.type, flags, ace.mask, ace.trustee))
    return tuple(inherited)


def inherited_at_depth(aces: Iterable[Ace], depth: int) -> tuple[Ace, ...]:
    """The ACEs of a file ``depth`` subfolders below the folder holding ``aces`` (0: in the folder)."""
    for _level in range(depth):
        aces = inherited_by_container(aces)
    return inherited_by_files(aces)


def is_canonical(aces: Iterable[Ace]) -> bool:
    """Explicit before inherited, and within explicit ACEs, denies before allows."""
    rank_seen = 0
    for ace in aces:
        rank = 2 if ace.has("ID") else (0 if ace.type in DENY_TYPES else 1)
        if rank < rank_seen:
            return False
        rank_seen = rank
    return True


YES, NO, MAYBE = "yes", "no", "maybe"  # whether an ACE's trustee is in the token
DOMAIN_ACCOUNT_PREFIX = "S-1-5-21-"  # domain and machine accounts and groups (MS-DTYP 2.4.2.4)


def _in_token(sid: str | None, token: frozenset[str], groups_known: bool) -> str:
    if sid is None:
        return MAYBE  # an alias with no domain to resolve it against
    if sid in token:
        return YES
    return MAYBE if not groups_known and sid.startswith(DOMAIN_ACCOUNT_PREFIX) else NO


def _walk(aces: Sequence[tuple[Ace, str]], wanted: int) -> tuple[int, list[str], list[str]]:
    """(granted mask, granting ACEs, denying ACEs) with the ACEs whose trustee is in the token (state YES)."""
    granted = denied = 0
    granted_by: list[str] = []
    denied_by: list[str] = []
    for ace, state in aces:
        if state != YES:
            continue
        mask = map_generic(ace.mask)
        if ace.type in DENY_TYPES:
            newly = mask & ~granted & ~denied
            denied |= newly
            if newly & wanted:
                denied_by.append(format_ace(ace))
        elif ace.type == "A":
            newly = mask & ~denied & ~granted
            granted |= newly
            if newly & wanted:
                granted_by.append(format_ace(ace))
    return granted, granted_by, denied_by


def _undecided(aces: Sequence[tuple[Ace, str]], wanted: int) -> tuple[str, ...]:
    """The uncertain trustees when their ACEs could turn the read verdict (worst case against best case)."""
    uncertain = [(ace, state) for ace, state in aces if state == MAYBE]
    if not uncertain:
        return ()
    worst = [(ace, YES if state == MAYBE and ace.type in DENY_TYPES else state) for ace, state in aces]
    best = [(ace, YES if state == MAYBE and ace.type == "A" else state) for ace, state in aces]
    readable = [_walk(case, wanted)[0] & wanted == wanted for case in (worst, best)]
    return tuple(dict.fromkeys(ace.trustee for ace, _state in uncertain)) if readable[0] != readable[1] else ()


def evaluate(
    aces: Iterable[Ace] | None,
    token: Iterable[str],
    domain_sid: str | None,
    wanted: int = READ_ACCESS,
    groups_known: bool = True,
) -> AccessResult:
    """Access of ``token`` (SIDs) through ``aces`` in order; ``None`` means a NULL DACL (full access).
    ``groups_known`` False: the token's domain group memberships are unknown, so an ACE for a domain SID not in
    it may apply."""
    if aces is None:
        return AccessResult(FILE_ALL_ACCESS, True, ("NULL DACL",), (), (), True, "no DACL: everyone has full access")
    aces = tuple(aces)
    token_set = frozenset(sid.upper() for sid in token)
    unresolved: list[str] = []
    domain_aliases: dict[str, None] = {}  # ordered set
    relevant: list[tuple[Ace, str]] = []
    for ace in aces:
        if not applies_to_object(ace) or ace.type not in ALLOW_TYPES | DENY_TYPES:
            continue
        if ace.trustee.upper() in DOMAIN_RELATIVE_RIDS:
            domain_aliases[ace.trustee.upper()] = None
        sid = resolve_sid(ace.trustee, domain_sid)
        if sid is None:
            unresolved.append(ace.trustee)
        relevant.append((ace, _in_token(sid, token_set, groups_known)))
    granted, granted_by, denied_by = _walk(relevant, wanted)
    return AccessResult(
        granted,
        granted & wanted == wanted,
        tuple(granted_by),
        tuple(denied_by),
        tuple(unresolved),
        is_canonical(aces),
        domain_aliases=tuple(domain_aliases),
        undecided=_undecided(relevant, wanted),
    )


def evaluate_descriptor(
    descriptor: SecurityDescriptor,
    token: Iterable[str],
    domain_sid: str | None,
    wanted: int = READ_ACCESS,
    groups_known: bool = True,
) -> AccessResult:
    """Access through the descriptor's DACL to the object itself."""
    dacl = descriptor.dacl
    if dacl is None or dacl.is_null:
        return evaluate(None, token, domain_sid, wanted)
    return evaluate(dacl.aces, token, domain_sid, wanted, groups_known)


def evaluate_child_files(
    descriptor: SecurityDescriptor,
    token: Iterable[str],
    domain_sid: str | None,
    *,
    depth: int = 0,
    wanted: int = READ_ACCESS,
    groups_known: bool = True,
) -> AccessResult:
    """Access to files ``depth`` subfolders below this folder, through the ACEs they inherit from it."""
    dacl = descriptor.dacl
    if dacl is None or dacl.is_null:
        # A NULL DACL is not an ACL to inherit: new children get their creator's default DACL.
        # Nothing better is known offline, so it is treated as granting, like the folder itself.
        return evaluate(None, token, domain_sid, wanted)
    return evaluate(inherited_at_depth(dacl.aces, depth), token, domain_sid, wanted, groups_known)
