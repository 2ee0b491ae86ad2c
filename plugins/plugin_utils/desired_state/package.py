"""The proxy package on a host: what to stage into its folder, and whether the staged folder is the package.

A package (``make proxy-package``, docs/installs.md) is a folder whose ``SHA256SUMS`` lists the SHA-256 of
every other file in ``sha256sum -c`` form (``<hex>  <path>``, ``/`` separators). On the proxy it lives in
``C:\\ProgramData\\backup.hyperv\\packages\\<version>``; proxy_package_read.ps1 reports each file there with
its ``Get-FileHash`` (SHA-256, upper-case hex) and the text of the staged ``SHA256SUMS``.

Staging copies only the files whose hash on the host differs from the package's (``SHA256SUMS`` itself
included, compared by its text); verifying compares every file of the folder with the staged
``SHA256SUMS``: a file it lists that is missing or has another hash, or a file it does not list at the folder's
root or in a component folder it lists (``data_mover\\``, ``installer\\``), fails. A folder it does not list is
left alone (an admin's own package beside it, such as a storage vendor's VSS provider).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import Plan, PlanError

SUMS = "SHA256SUMS"
_SUM_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<path>\S.*)$")


def parse_sums(text: str) -> dict[str, str]:
    """{path with `\\` separators: upper-case hex} of a SHA256SUMS text; PlanError names a bad line."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SUM_LINE.match(line.rstrip("\r"))
        if match is None or ".." in match["path"].replace("\\", "/").split("/"):
            raise PlanError(f"{SUMS} line {number} is not '<sha256>  <relative path>': {line[:120]!r}")
        sums[windows_relative(match["path"])] = match["digest"].upper()
    if not sums:
        raise PlanError(f"{SUMS} lists no file")
    return sums


def windows_relative(path: str) -> str:
    return path.replace("/", "\\").strip("\\")


def sums_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest().upper()


def desired_hashes(sums_text: str) -> dict[str, str]:
    """Every file the staged folder must hold, SHA256SUMS included, with its hash."""
    return {**parse_sums(sums_text), SUMS: sums_digest(sums_text)}


def folder_hashes(folder: Mapping[str, Any]) -> dict[str, str]:
    """{relative path: hash} of a folder as proxy_package_read.ps1 reports it (keys compared case-blind later)."""
    return {windows_relative(str(f["Path"])): str(f["Sha256"]).upper() for f in folder.get("Files") or []}


def _casefold_keys(hashes: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    return {path.casefold(): (path, digest) for path, digest in hashes.items()}


def files_to_copy(current: Mapping[str, str], desired: Mapping[str, str]) -> list[str]:
    """The desired files whose hash on the host differs (or that are missing), NTFS-style case-blind."""
    present = _casefold_keys(current)
    return sorted(path for path, digest in desired.items() if present.get(path.casefold(), ("", ""))[1] != digest)


@dataclass(frozen=True)
class Verification:
    """How a staged folder differs from its SHA256SUMS; empty lists: it is the package."""

    missing: list[str]
    mismatched: list[str]
    extra: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.extra)


def verify_folder(folder: Mapping[str, Any]) -> Verification:
    """Compare every file of a read folder with the SHA256SUMS staged in it."""
    if folder.get("Sums") is None:
        return Verification(missing=[SUMS], mismatched=[], extra=[])
    listed = _casefold_keys(parse_sums(str(folder["Sums"])))
    present = _casefold_keys(folder_hashes(folder))
    present.pop(SUMS.casefold(), None)
    present = {key: entry for key, entry in present.items() if _owned(key, listed)}
    missing = sorted(path for key, (path, _digest) in listed.items() if key not in present)
    mismatched = sorted(path for key, (path, digest) in listed.items() if key in present and present[key][1] != digest)
    extra = sorted(path for key, (path, _digest) in present.items() if key not in listed)
    return Verification(missing=missing, mismatched=mismatched, extra=extra)


def _owned(key: str, listed: Mapping[str, Any]) -> bool:
    """Whether a file of the folder is the package's to account for: at its root, or in one of its component
    folders. Another component's folder beside them (the managed_server installer's, staged by other means)
    is not the package's."""
    folders = {name.split("\\", 1)[0] for name in listed if "\\" in name}
    return "\\" not in key or key.split("\\", 1)[0] in folders


def _named(kind: str, paths: Iterable[str], limit: int = 10) -> str:
    paths = list(paths)
    shown = ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
    return f"{kind}: {shown}"


def verification_message(destination: str, verification: Verification, source: str) -> str:
    """The failure of a verify: every kind of difference with its files, then what to do."""
    parts = [
        _named("hash differs from SHA256SUMS", verification.mismatched) if verification.mismatched else "",
        _named("missing", verification.missing) if verification.missing else "",
        _named("not in SHA256SUMS", verification.extra) if verification.extra else "",
    ]
    found = "; ".join(part for part in parts if part)
    remedy = (
        f"The package at {source} does not match its own SHA256SUMS: build it again (make proxy-package) or copy it "
        "again from where it is hosted, then run the role again."
        if verification.mismatched or verification.missing
        else ""
    )
    if verification.extra:
        remedy += f" Remove the files not in SHA256SUMS from {destination}, or stage the package into a new folder."
    return f"the package staged in {destination} fails its SHA-256 verification ({found}).{remedy and ' ' + remedy}"


def plan_staging(reply: Mapping[str, Any], sums_text: str, step: Mapping[str, Any]) -> Plan:
    """One staging step (``step`` plus the files to copy) when a file differs; before/after name only those."""
    destination = reply.get("Destination") or {}
    current = folder_hashes(destination)
    desired = desired_hashes(sums_text)
    copy = files_to_copy(current, desired)
    before_files = {path: _casefold_keys(current).get(path.casefold(), ("", None))[1] for path in copy}
    view_before = {
        "files": before_files,
        "verified": verify_folder(destination).ok if destination.get("Exists") else False,
    }
    view_after = {"files": {path: desired[path] for path in copy}, "verified": True}
    if not copy:
        return Plan(steps=[], before=view_before, after=view_before)
    return Plan(steps=[{**step, "files": copy}], before=view_before, after=view_after)


def require_source_sums(reply: Mapping[str, Any], source: str) -> str:
    """The SHA256SUMS text of the package on a share, as the read reported it; PlanError when it has none."""
    folder = reply.get("Source") or {}
    if not folder.get("Exists"):
        raise PlanError(
            f"the package folder {source} cannot be read from the proxy: check the path and its share access"
        )
    if folder.get("Sums") is None:
        raise PlanError(f"{source} holds no {SUMS}: host the whole package folder that make proxy-package builds")
    return str(folder["Sums"])
