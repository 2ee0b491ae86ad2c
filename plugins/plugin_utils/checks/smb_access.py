"""R12 and R13: the proxy can read the SMB3 shares that hold the source VMs' files.

SMB access needs both layers to allow it: the share permissions (Get-SmbShare SecurityDescriptor)
and the file-system ACL (Get-Acl .Sddl of the shared folder). Both are evaluated with
effective_access.py for the token the server builds for the proxy (smb_shares.py): the share
permissions and the folder ACL for the shared folder itself, and, for each depth at which VM
files sit below the share root, the ACL such a file inherits from the shared folder.

R12 asks whether each share is there and readable as a whole; R13 shows each layer for the
computer account DOMAIN\\NAME$, and names the ACE that denies or the grant that is missing, with
the domain that SDDL aliases such as DC (Domain Computers) were resolved against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, not_applicable
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.effective_access import (
    AccessResult,
    evaluate_child_files,
    evaluate_descriptor,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import (
    SddlError,
    SecurityDescriptor,
    parse_sddl,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_shares import (
    NetworkToken,
    ShareReference,
    find_host,
    network_tokens,
    referenced_shares,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import (
    HostFacts,
    Identity,
    SectionUnavailable,
    SmbShare,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check

Evaluator = Callable[[SecurityDescriptor, frozenset[str], str | None, bool], AccessResult]


@dataclass(frozen=True)
class Layer:
    """One permission layer: evidence key, label for messages, and how to evaluate it."""

    key: str
    label: str
    evaluate: Evaluator = field(compare=False)  # layers are equal by key and label


def _object_layer(
    descriptor: SecurityDescriptor, token: frozenset[str], domain_sid: str | None, known: bool
) -> AccessResult:
    return evaluate_descriptor(descriptor, token, domain_sid, groups_known=known)


SHARE_PERMISSIONS = Layer("share_permissions", "share permissions", _object_layer)
FOLDER_ACL = Layer("folder_acl", "folder ACL", _object_layer)


def files_layer(depth: int) -> Layer:
    """The ACL files ``depth`` folders below the share root inherit from the shared folder."""
    where = "in the share root" if depth == 0 else f"{depth} folder{'s' * (depth > 1)} below the share root"

    def evaluate(
        descriptor: SecurityDescriptor, token: frozenset[str], domain_sid: str | None, groups_known: bool
    ) -> AccessResult:
        return evaluate_child_files(descriptor, token, domain_sid, depth=depth, groups_known=groups_known)

    return Layer(f"files_acl_depth_{depth}", f"ACL inherited by files {where}", evaluate)


def share_layers(reference: ShareReference) -> tuple[Layer, ...]:
    return (SHARE_PERMISSIONS, FOLDER_ACL, *(files_layer(depth) for depth in reference.file_depths))


@dataclass
class ShareAccess:
    """What is known about one referenced share: a missing share, gaps, or one AccessResult per layer.

    ``undecided`` holds the layers whose verdict differs between the candidate tokens.
    """

    reference: ShareReference
    missing: str = ""
    gaps: list[str] = field(default_factory=list)
    layers: dict[Layer, AccessResult] = field(default_factory=dict)
    undecided: set[Layer] = field(default_factory=set)
    aliases_domain: str = ""  # "CORP (S-1-5-21-...)": what DC, DU... stand for on this server

    @property
    def readable(self) -> bool | None:
        if self.missing:
            return False
        if self.gaps or len(self.layers) < len(share_layers(self.reference)):
            return None
        return all(result.readable for result in self.layers.values())

    def evidence(self) -> dict[str, object]:
        return {
            "share": self.reference.unc,
            "used_by": list(self.reference.used_by),
            "file_depths": list(self.reference.file_depths),
            **({"missing": self.missing} if self.missing else {}),
            **({"domain_aliases_resolved_against": self.aliases_domain} if self.aliases_domain else {}),
            "layers": {layer.key: result.to_evidence() for layer, result in self.layers.items()},
        }


def _find_share(server: HostFacts, name: str) -> SmbShare | None:
    smb = server.section("smb")
    return next((share for share in (smb.shares if smb else ()) if share.name.upper() == name.upper()), None)


def _server_identity(server: HostFacts) -> Identity | None:
    return server.identity if isinstance(server.identity, Identity) else None


def _aliases_domain(server: Identity | None) -> str:
    if not server or not server.domain_sid:
        return ""
    return f"{server.domain or server.dns_domain or server.computer_name} ({server.domain_sid})"


def _descriptor(access: ShareAccess, label: str, sddl: str | None) -> SecurityDescriptor | None:
    if not sddl:
        access.gaps.append(f"{access.reference.unc}: {label} not reported")
        return None
    try:
        return parse_sddl(sddl)
    except SddlError as error:
        access.gaps.append(f"{access.reference.unc}: {label} SDDL unreadable ({error})")
        return None


def _evaluate_layer(
    access: ShareAccess,
    layer: Layer,
    descriptor: SecurityDescriptor,
    tokens: Sequence[NetworkToken],
    domain_sid: str | None,
) -> None:
    results = [layer.evaluate(descriptor, token.sids, domain_sid, token.groups_known) for token in tokens]
    access.layers[layer] = results[0]
    undecided = list(dict.fromkeys(trustee for result in results for trustee in result.undecided))
    if undecided:
        access.undecided.add(layer)
        aliases = {trustee for result in results for trustee in result.unresolved}
        why = [
            f"{trustee} (an alias the server's domain would resolve, and its identity is not in the facts)"
            if trustee in aliases
            else f"{trustee} (a domain group: the proxy's group memberships are not in the facts)"
            for trustee in undecided
        ]
        access.gaps.append(
            f"{access.reference.unc}: {layer.label} decides the read by ACEs whose trustee may or may not hold the "
            f"proxy: {'; '.join(why)}"
        )
        return
    granting = [token.assumption for token, result in zip(tokens, results) if result.readable]
    if granting and len(granting) < len(tokens):
        access.undecided.add(layer)
        access.gaps.append(
            f"{access.reference.unc}: {layer.label} grants read only with {', '.join(granting)} in the token; "
            "the facts do not say whether the trust uses selective authentication"
        )


def _evaluate_layers(
    access: ShareAccess, share: SmbShare, tokens: Sequence[NetworkToken], domain_sid: str | None
) -> None:
    layers = share_layers(access.reference)
    for label, sddl, wanted in (
        ("share permissions", share.share_sddl, layers[:1]),
        ("folder ACL", share.path_sddl, layers[1:]),
    ):
        descriptor = _descriptor(access, label, sddl)
        for layer in wanted if descriptor else ():
            _evaluate_layer(access, layer, descriptor, tokens, domain_sid)


def assess_share(reference: ShareReference, proxy: Identity, candidates: Sequence[HostFacts]) -> ShareAccess:
    """Evaluate one referenced share for the proxy; never raises for missing facts."""
    access = ShareAccess(reference)
    server = find_host(reference.server, candidates, reference.share)
    if server is None:
        access.gaps.append(f"no facts for SMB3 server {reference.server} (add it to smb_servers)")
        return access
    try:
        share = _find_share(server, reference.share)
    except SectionUnavailable as missing:
        access.gaps.append(str(missing))
        return access
    if share is None:
        access.missing = f"{server.name} publishes no share named {reference.share}"
    elif share.error:
        access.gaps.append(f"{reference.unc}: probe error: {share.error.message}")
    else:
        server_identity = _server_identity(server)
        domain_sid = server_identity.domain_sid if server_identity else None
        access.aliases_domain = _aliases_domain(server_identity)
        _evaluate_layers(access, share, network_tokens(proxy, server_identity), domain_sid)
    return access


def assess_shares(
    proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]
) -> tuple[list[ShareAccess], dict[str, str], Identity | None]:
    """(share assessments, vms gaps, proxy identity) for every share holding source VM disks."""
    references, gaps = referenced_shares(sources)
    identity = proxy.section("identity") if references else None
    candidates = [*smb_servers, *sources]
    return [assess_share(reference, identity, candidates) for reference in references], gaps, identity


def _assess_or_decide(
    requirement_id: str, proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]
) -> Finding | tuple[list[ShareAccess], dict[str, str], Identity | None]:
    """What R12 and R13 settle alike before any share's rights: no sources, no VM on a share, a proxy in
    no domain (each a Finding); otherwise the assessment (shares, vms gaps, proxy identity)."""
    if not sources:
        return no_sources(requirement_id)
    shares, vms_gaps, identity = assess_shares(proxy, sources, smb_servers)
    if not shares and not vms_gaps:
        return not_applicable(requirement_id, "no source VM has disks on an SMB3 share")
    if identity is not None and not identity.part_of_domain:
        return Finding.failed(
            requirement_id,
            f"{proxy.name} is not in a domain: its LocalSystem account has no computer account to be granted access",
            {"proxy": proxy.name},
            "Join the proxy to the SMB3 server's domain or a domain it trusts.",
        )
    return shares, vms_gaps, identity


def _group_gap(identity: Identity | None, access: ShareAccess) -> bool:
    """A denial that might only be a missing group membership in the facts is not a verdict."""
    return bool(identity) and access.readable is False and not access.missing and identity.group_sids is None


def _gaps(proxy: HostFacts, identity: Identity | None, shares: list[ShareAccess], vms_gaps: dict) -> list[str]:
    gap_list = [*vms_gaps.values(), *(gap for access in shares for gap in access.gaps)]
    unknown_groups = [access.reference.unc for access in shares if _group_gap(identity, access)]
    if unknown_groups:
        gap_list.append(f"group memberships of {proxy.name} unknown, read not granted on {', '.join(unknown_groups)}")
    return gap_list


@requirement_check("R12")
def proxy_reads_vm_shares(proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]) -> Finding:
    """R12: every share holding source VM files exists and the proxy can read it (both layers)."""
    assessed = _assess_or_decide("R12", proxy, sources, smb_servers)
    if isinstance(assessed, Finding):
        return assessed
    shares, vms_gaps, identity = assessed
    problems = [f"{access.reference.unc}: {access.missing}" for access in shares if access.missing]
    problems += [
        f"{proxy.name} cannot read {access.reference.unc}"
        for access in shares
        if access.readable is False and not access.missing and not _group_gap(identity, access)
    ]
    return conclude(
        "R12",
        problems=problems,
        gaps=_gaps(proxy, identity, shares, vms_gaps),
        passed=f"{proxy.name} can read {', '.join(access.reference.unc for access in shares)}",
        evidence={"shares": [access.evidence() for access in shares]},
        remedy="Publish the share the VMs use and grant the proxy's computer account read access "
        "(share permissions and folder ACL).",
    )


def _alias_note(access: ShareAccess, result: AccessResult) -> str:
    """Which domain the ACL's DC, DU... stand for: a proxy of another domain is not in them."""
    if not result.domain_aliases:
        return ""
    aliases = ", ".join(result.domain_aliases)
    if not access.aliases_domain:
        return f"; {aliases} unresolved: the SMB3 server's domain SID is unknown"
    return f"; {aliases} resolved against domain {access.aliases_domain}, the SMB3 server's"


def _layer_problems(account: str, access: ShareAccess) -> list[str]:
    problems = []
    for layer, result in access.layers.items():
        if not result.readable and layer not in access.undecided:
            why = f"denied by {', '.join(result.denied_by)}" if result.denied_by else "no ACE grants read"
            problems.append(
                f"{layer.label} of {access.reference.unc}: no read for {account} ({why}{_alias_note(access, result)})"
            )
    return problems


@requirement_check("R13")
def computer_account_reads_shares(
    proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]
) -> Finding:
    """R13: the proxy's computer account has read in the share permissions and in the folder ACL."""
    assessed = _assess_or_decide("R13", proxy, sources, smb_servers)
    if isinstance(assessed, Finding):
        return assessed
    shares, vms_gaps, identity = assessed
    account = (identity.account_name if identity else None) or f"{proxy.name}$"
    decided = [access for access in shares if not _group_gap(identity, access)]
    problems = [problem for access in decided for problem in _layer_problems(account, access)]
    gap_list = _gaps(proxy, identity, shares, vms_gaps)
    gap_list += [f"{access.reference.unc}: share not found (see R12)" for access in shares if access.missing]
    return conclude(
        "R13",
        problems=problems,
        gaps=gap_list,
        passed=f"{account} has read in the share permissions and the folder ACL of every VM share",
        evidence={"account": account, "shares": [a.evidence() for a in shares]},
        remedy=f"Grant {account} (or a group it belongs to, e.g. Domain Computers of its own domain) Read in the "
        "share permissions (Grant-SmbShareAccess) and in the shared folder's NTFS ACL, inherited by subfolders and "
        f"files (icacls <folder> /grant {account}:(OI)(CI)R), and remove deny ACEs that match it.",
    )
