"""R12 and R13: the proxy can read the SMB3 shares that hold the source VMs' files.

SMB access needs both layers to allow it: the share permissions (Get-SmbShare SecurityDescriptor)
and the file-system ACL of the shared folder (Get-Acl .Sddl). Both are evaluated for the proxy's
network token (smb_shares.py) with effective_access.py; the folder ACL is evaluated for the
folder itself and for the files created below it (the ACEs they inherit).

R12 asks whether each share is there and readable as a whole; R13 shows each layer for the
computer account DOMAIN\\NAME$, and names the ACE that denies or the grant that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, not_applicable
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.effective_access import (
    AccessResult,
    evaluate_child_files,
    evaluate_descriptor,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import SddlError, parse_sddl
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_shares import (
    ShareReference,
    find_host,
    network_token,
    referenced_shares,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import (
    HostFacts,
    Identity,
    SectionUnavailable,
    SmbShare,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check

LAYER_LABELS = {
    "share_permissions": "share permissions",
    "folder_acl": "folder ACL",
    "files_acl": "ACL inherited by files",
}
LAYERS = tuple(LAYER_LABELS)


@dataclass
class ShareAccess:
    """What is known about one referenced share: a missing share, gaps, or one AccessResult per layer."""

    reference: ShareReference
    missing: str = ""
    gaps: list[str] = field(default_factory=list)
    layers: dict[str, AccessResult] = field(default_factory=dict)

    @property
    def readable(self) -> bool | None:
        if self.missing:
            return False
        if self.gaps or len(self.layers) < len(LAYERS):
            return None
        return all(result.readable for result in self.layers.values())

    def evidence(self) -> dict[str, object]:
        return {
            "share": self.reference.unc,
            "used_by": list(self.reference.used_by),
            **({"missing": self.missing} if self.missing else {}),
            "layers": {name: result.to_evidence() for name, result in self.layers.items()},
        }


def _find_share(server: HostFacts, name: str) -> SmbShare | None:
    smb = server.section("smb")
    return next((share for share in (smb.shares if smb else ()) if share.name.upper() == name.upper()), None)


def _server_identity(server: HostFacts) -> Identity | None:
    return server.identity if isinstance(server.identity, Identity) else None


def _evaluate_layers(access: ShareAccess, share: SmbShare, token: frozenset[str], domain_sid: str | None) -> None:
    for label, sddl, evaluators in (
        ("share permissions", share.share_sddl, (("share_permissions", evaluate_descriptor),)),
        ("folder ACL", share.path_sddl, (("folder_acl", evaluate_descriptor), ("files_acl", evaluate_child_files))),
    ):
        if not sddl:
            access.gaps.append(f"{access.reference.unc}: {label} not reported")
            continue
        try:
            descriptor = parse_sddl(sddl)
        except SddlError as error:
            access.gaps.append(f"{access.reference.unc}: {label} SDDL unreadable ({error})")
            continue
        for layer, evaluator in evaluators:
            access.layers[layer] = evaluator(descriptor, token, domain_sid)


def assess_share(reference: ShareReference, proxy: Identity, candidates: Sequence[HostFacts]) -> ShareAccess:
    """Evaluate one referenced share for the proxy; never raises for missing facts."""
    access = ShareAccess(reference)
    server = find_host(reference.server, candidates)
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
        _evaluate_layers(access, share, network_token(proxy, server_identity), domain_sid)
    return access


def assess_shares(
    proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]
) -> tuple[list[ShareAccess], dict[str, str], Identity | None]:
    """(share assessments, vms gaps, proxy identity) for every share holding source VM disks."""
    references, gaps = referenced_shares(sources)
    identity = proxy.section("identity") if references else None
    candidates = [*smb_servers, *sources]
    return [assess_share(reference, identity, candidates) for reference in references], gaps, identity


def _not_joined(requirement_id: str, proxy: HostFacts) -> Finding:
    return Finding.failed(
        requirement_id,
        f"{proxy.name} is not in a domain: its LocalSystem account has no computer account to be granted access",
        {"proxy": proxy.name},
        "Join the proxy to the SMB3 server's domain or a domain it trusts.",
    )


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
    if not sources:
        return no_sources("R12")
    shares, vms_gaps, identity = assess_shares(proxy, sources, smb_servers)
    if not shares and not vms_gaps:
        return not_applicable("R12", "no source VM has disks on an SMB3 share")
    if identity is not None and not identity.part_of_domain:
        return _not_joined("R12", proxy)
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


def _layer_problems(account: str, access: ShareAccess) -> list[str]:
    problems = []
    for layer, result in access.layers.items():
        if not result.readable:
            why = f"denied by {', '.join(result.denied_by)}" if result.denied_by else "no ACE grants read"
            problems.append(f"{LAYER_LABELS[layer]} of {access.reference.unc}: no read for {account} ({why})")
    return problems


@requirement_check("R13")
def computer_account_reads_shares(
    proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]
) -> Finding:
    """R13: the proxy's computer account has read in the share permissions and in the folder ACL."""
    if not sources:
        return no_sources("R13")
    shares, vms_gaps, identity = assess_shares(proxy, sources, smb_servers)
    if not shares and not vms_gaps:
        return not_applicable("R13", "no source VM has disks on an SMB3 share")
    if identity is not None and not identity.part_of_domain:
        return _not_joined("R13", proxy)
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
        remedy=f"Grant {account} (or a group it belongs to, e.g. Domain Computers) Read in the share permissions "
        "(Grant-SmbShareAccess) and in the folder's NTFS ACL (icacls /grant), and remove deny ACEs that match it.",
    )
