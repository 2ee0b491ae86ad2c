"""Pure decisions of ``backup.hyperv.shadow_copy`` for VM files on SMB3 shares (VSS for SMB File Shares).

A VM whose files are on ``\\\\server\\share\\...`` is shadowed through the file server: the Hyper-V
host's VSS hands the share to the File Share Shadow Copy Provider, which asks the File Server VSS
Agent Service on the server (MS-FSRVP) to shadow the volume behind the share and expose the copy as a
*shadow copy share* (``\\\\server\\share@{GUID}``; the file server names it, the create script
reports it). That share is readable until the set is deleted, so an off-host proxy reads the VM
files from it directly: nothing is imported or exposed on the proxy. Such a set is not
transportable, so local (or CSV) volumes and shares are never mixed in one set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

UNC = re.compile(r"^\\\\(?P<server>[^\\]+)\\(?P<share>[^\\]+)(?:\\|$)")


class MixedStorageError(ValueError):
    """A VM set spans both local/CSV volumes and SMB3 shares (two kinds of shadow copy set)."""


def share_root(path: str) -> str | None:
    """``\\\\server\\share\\`` of a UNC path, ``None`` for a drive path."""
    match = UNC.match(path)
    return f"\\\\{match['server']}\\{match['share']}\\" if match else None


def is_share(volume: str) -> bool:
    return share_root(volume) is not None


def set_kind(volumes: Sequence[str], vms: Sequence[str] = ()) -> str:
    """``transportable`` (local volumes and CSVs) or ``share`` (SMB3 shares) for the files of ``vms``; raises when
    mixed, with the remedy for several VMs (one set each) or for one VM whose own files span both kinds."""
    shares = [v for v in volumes if is_share(v)]
    if shares and len(shares) != len(volumes):
        local = [v for v in volumes if not is_share(v)]
        if len(vms) == 1:
            remedy = (
                f"one shadow copy set cannot be both, so VM {vms[0]} cannot be taken at one point in time: move its "
                "files to one kind of storage (Move-VMStorage), or merge a differencing disk whose parent is on the "
                "other kind into one disk (Merge-VHD, or Convert-VHD into a new disk attached in its place)"
            )
        else:
            remedy = "back up such VMs in separate tasks (one shadow copy set cannot be both)"
        raise MixedStorageError(
            f"the VM files are on SMB3 shares ({', '.join(shares)}) and on local or cluster shared volumes "
            f"({', '.join(local)}); {remedy}"
        )
    return "share" if shares else "transportable"


def file_bases(
    volume_aliases: Mapping[str, str], shares: Mapping[str, str], exposed: Mapping[str, str]
) -> dict[str, str]:
    """Per volume, the folder the proxy reads its files under: the shadow copy share or the exposed alias."""
    return {volume: shares.get(volume) or exposed[alias] for volume, alias in volume_aliases.items()}
