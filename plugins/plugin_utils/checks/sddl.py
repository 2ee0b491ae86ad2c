"""Parse and format SDDL security descriptors (owner, group, DACL, SACL) as Windows writes them.

Follows Microsoft's "Security Descriptor String Format", "ACE Strings" and "SID Strings" pages:
``O:<sid>G:<sid>D:<dacl flags>(<ace>)...S:<sacl flags>(<ace>)...``, each ACE
``(type;flags;rights;object_guid;inherit_object_guid;account_sid[;resource_attribute])``.
Trustees keep the spelling of the string (alias such as ``DC`` or ``S-1-5-...``); resolve_sid
turns them into SIDs, which needs the domain SID of the machine that wrote the descriptor for
domain-relative aliases (``DC`` = <domain SID>-515). Rights are kept as a numeric mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _table(pairs: str) -> dict[str, str]:
    """``"GA=10000000 GX=20000000 ..."`` as a dict: the long alias tables stay as dense as Microsoft's pages."""
    return dict(pair.split("=", 1) for pair in pairs.split())


# "ACE Strings": access-right letters and the masks they stand for (hex): generic, standard,
# directory-service object, file, registry key and mandatory label rights.
_RIGHT_MASKS = _table("""
    GA=10000000 GX=20000000 GW=40000000 GR=80000000
    RC=00020000 SD=00010000 WD=00040000 WO=00080000
    CC=1 DC=2 LC=4 SW=8 RP=10 WP=20 DT=40 LO=80 CR=100
    FA=001F01FF FR=00120089 FW=00120116 FX=001200A0
    KA=000F003F KR=00020019 KW=00020006 KX=00020019
    NR=1 NW=2 NX=4
""")
RIGHT_LETTERS: dict[str, int] = {letters: int(mask, 16) for letters, mask in _RIGHT_MASKS.items()}
ACE_FLAGS = ("CI", "OI", "NP", "IO", "ID", "SA", "FA", "TP", "CR")
ACE_TYPES = ("A", "D", "OA", "OD", "AU", "AL", "OU", "OL", "ML", "XA", "XD", "XU", "ZA", "RA", "SP")
ACL_FLAGS = ("NO_ACCESS_CONTROL", "P", "AR", "AI")  # longest first for scanning

# "SID Strings": aliases that stand for the same SID everywhere.
WELL_KNOWN_SIDS: dict[str, str] = _table("""
    WD=S-1-1-0 CO=S-1-3-0 CG=S-1-3-1 OW=S-1-3-4 NU=S-1-5-2 IU=S-1-5-4
    SU=S-1-5-6 AN=S-1-5-7 ED=S-1-5-9 PS=S-1-5-10 AU=S-1-5-11 RC=S-1-5-12
    SY=S-1-5-18 LS=S-1-5-19 NS=S-1-5-20 WR=S-1-5-33 BA=S-1-5-32-544
    BU=S-1-5-32-545 BG=S-1-5-32-546 PU=S-1-5-32-547 AO=S-1-5-32-548
    SO=S-1-5-32-549 PO=S-1-5-32-550 BO=S-1-5-32-551 RE=S-1-5-32-552
    RU=S-1-5-32-554 RD=S-1-5-32-555 NO=S-1-5-32-556 MU=S-1-5-32-558
    LU=S-1-5-32-559 IS=S-1-5-32-568 CY=S-1-5-32-569 ER=S-1-5-32-573
    CD=S-1-5-32-574 RA=S-1-5-32-575 ES=S-1-5-32-576 MS=S-1-5-32-577
    HA=S-1-5-32-578 AA=S-1-5-32-579 RM=S-1-5-32-580 AC=S-1-15-2-1
    LW=S-1-16-4096 ME=S-1-16-8192 MP=S-1-16-8448 HI=S-1-16-12288 SI=S-1-16-16384
""")
# Aliases relative to the domain of the machine that wrote the string: alias -> RID.
_DOMAIN_RIDS = _table("DA=512 DU=513 DG=514 DC=515 DD=516 CA=517 PA=520 CN=522 AP=525 KA=526 RS=553")
DOMAIN_RELATIVE_RIDS: dict[str, int] = {alias: int(rid) for alias, rid in _DOMAIN_RIDS.items()}
# Aliases relative to the forest root domain or the local machine; unresolved without those SIDs.
OTHER_RELATIVE_ALIASES = frozenset({"EA", "SA", "EK", "RO", "LA", "LG"})

_SID = re.compile(r"S-1(?:-[0-9]+)+", re.IGNORECASE)


class SddlError(ValueError):
    """The string is not valid SDDL; the message gives the offset."""


@dataclass(frozen=True)
class Ace:
    type: str
    flags: tuple[str, ...]
    mask: int
    trustee: str
    object_guid: str = ""
    inherit_object_guid: str = ""
    resource_attribute: str | None = None

    def has(self, flag: str) -> bool:
        return flag in self.flags


@dataclass(frozen=True)
class Acl:
    flags: tuple[str, ...]
    aces: tuple[Ace, ...]

    @property
    def is_null(self) -> bool:
        """``D:NO_ACCESS_CONTROL``: a NULL DACL, which grants everyone full access."""
        return "NO_ACCESS_CONTROL" in self.flags


@dataclass(frozen=True)
class SecurityDescriptor:
    owner: str | None = None
    group: str | None = None
    dacl: Acl | None = None  # None: no DACL in the string (SE_DACL_PRESENT clear) = full access
    sacl: Acl | None = None


def resolve_sid(trustee: str, domain_sid: str | None) -> str | None:
    """SID string of an SDDL trustee; None when it needs a domain/forest/machine SID we do not have."""
    if _SID.fullmatch(trustee):
        return trustee.upper()
    alias = trustee.upper()
    if alias in WELL_KNOWN_SIDS:
        return WELL_KNOWN_SIDS[alias]
    if alias in DOMAIN_RELATIVE_RIDS and domain_sid:
        return f"{domain_sid}-{DOMAIN_RELATIVE_RIDS[alias]}"
    return None


def _parse_mask(text: str, where: int) -> int:
    if re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", text):
        return int(text, 0) if text.lower().startswith("0x") else int(text)
    if len(text) % 2:
        raise SddlError(f"offset {where}: bad rights {text!r}")
    mask = 0
    for index in range(0, len(text), 2):
        letters = text[index : index + 2].upper()
        if letters not in RIGHT_LETTERS:
            raise SddlError(f"offset {where}: unknown right {letters!r}")
        mask |= RIGHT_LETTERS[letters]
    return mask


def _parse_ace_flags(text: str, where: int) -> tuple[str, ...]:
    flags = tuple(text[index : index + 2].upper() for index in range(0, len(text), 2))
    if len(text) % 2 or any(flag not in ACE_FLAGS for flag in flags):
        raise SddlError(f"offset {where}: bad ACE flags {text!r}")
    return flags


def parse_ace(body: str, where: int = 0) -> Ace:
    """Parse one ACE string without its parentheses."""
    fields = body.split(";", 5)
    if len(fields) != 6:
        raise SddlError(f"offset {where}: ACE needs 6 fields, got {body!r}")
    ace_type, flags, rights, object_guid, inherit_guid, rest = fields
    trustee, _ignored, attribute = rest.partition(";")
    if ace_type.upper() not in ACE_TYPES:
        raise SddlError(f"offset {where}: unknown ACE type {ace_type!r}")
    if not (_SID.fullmatch(trustee) or re.fullmatch(r"[A-Za-z]{2}", trustee)):
        raise SddlError(f"offset {where}: bad trustee {trustee!r}")
    return Ace(
        type=ace_type.upper(),
        flags=_parse_ace_flags(flags, where),
        mask=_parse_mask(rights, where),
        trustee=trustee,
        object_guid=object_guid,
        inherit_object_guid=inherit_guid,
        resource_attribute=attribute or None,
    )


def _closing_paren(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise SddlError(f"offset {start}: unbalanced parenthesis")


def _parse_acl(text: str, position: int) -> tuple[Acl, int]:
    flags: list[str] = []
    while position < len(text) and text[position] != "(" and not _at_component(text, position):
        flag = next((f for f in ACL_FLAGS if text.startswith(f, position)), None)
        if flag is None:
            raise SddlError(f"offset {position}: bad ACL flags near {text[position : position + 20]!r}")
        flags.append(flag)
        position += len(flag)
    aces: list[Ace] = []
    while position < len(text) and text[position] == "(":
        end = _closing_paren(text, position)
        aces.append(parse_ace(text[position + 1 : end], position))
        position = end + 1
    return Acl(tuple(flags), tuple(aces)), position


def _at_component(text: str, position: int) -> bool:
    return text[position : position + 2] in ("O:", "G:", "D:", "S:")


def _parse_sid_token(text: str, position: int) -> tuple[str, int]:
    match = _SID.match(text, position)
    if match:
        return match.group(0), match.end()
    token = text[position : position + 2]
    if not re.fullmatch(r"[A-Za-z]{2}", token):
        raise SddlError(f"offset {position}: bad owner/group SID {token!r}")
    return token, position + 2


def parse_sddl(text: str) -> SecurityDescriptor:
    """Parse a security descriptor string; raise SddlError on malformed input."""
    text = text.strip()
    parts: dict[str, object] = {}
    position = 0
    while position < len(text):
        component = text[position : position + 2]
        if not _at_component(text, position) or component[0] in parts:
            raise SddlError(f"offset {position}: expected O:, G:, D: or S: once each, got {component!r}")
        position += 2
        if component in ("O:", "G:"):
            parts[component[0]], position = _parse_sid_token(text, position)
        else:
            parts[component[0]], position = _parse_acl(text, position)
    return SecurityDescriptor(parts.get("O"), parts.get("G"), parts.get("D"), parts.get("S"))  # type: ignore[arg-type]


def format_ace(ace: Ace) -> str:
    """ACE string with its parentheses; rights as a hex mask."""
    fields = [ace.type, "".join(ace.flags), f"0x{ace.mask:x}", ace.object_guid, ace.inherit_object_guid, ace.trustee]
    if ace.resource_attribute is not None:
        fields.append(ace.resource_attribute)
    return "(" + ";".join(fields) + ")"


def format_sddl(descriptor: SecurityDescriptor) -> str:
    """SDDL string of ``descriptor``; parse_sddl(format_sddl(d)) == d."""
    out = []
    if descriptor.owner is not None:
        out.append(f"O:{descriptor.owner}")
    if descriptor.group is not None:
        out.append(f"G:{descriptor.group}")
    for prefix, acl in (("D:", descriptor.dacl), ("S:", descriptor.sacl)):
        if acl is not None:
            out.append(prefix + "".join(acl.flags) + "".join(format_ace(ace) for ace in acl.aces))
    return "".join(out)
