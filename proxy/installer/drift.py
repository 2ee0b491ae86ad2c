"""Drift of one installed component: its folder compared with the package's SHA256SUMS. Pure, testable anywhere.

The package's SHA256SUMS lists every file as `<sha256>  <component folder>/<relative path>` (`/` separators,
tools/proxy_package.py); a component folder is named after the component's role (`data_mover`, `installer`).
Paths compare case-blind, as NTFS does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

MISSING, CHANGED, EXTRA = "missing", "changed", "extra"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Drift:
    path: str  # relative to the component's destination, `\` separators as Windows shows them
    kind: str  # MISSING, CHANGED or EXTRA

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind}


def expected_files(sums_text: str, role: str) -> dict[str, str]:
    """{relative path (`/`): sha256} of the lines of SHA256SUMS under the folder `role`."""
    prefix = f"{role.lower()}/"
    expected = {}
    for line in sums_text.splitlines():
        digest, separator, name = line.partition("  ")
        if separator and name.lower().startswith(prefix):
            expected[name[len(prefix) :]] = digest.lower()
    return expected


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def installed_files(destination: Path, ignored: frozenset[str]) -> dict[str, str]:
    """{relative path in lower case: relative path} of the files under `destination` (`/`), but `ignored` ones."""
    if not destination.is_dir():
        return {}
    relatives = (path.relative_to(destination).as_posix() for path in destination.rglob("*") if path.is_file())
    return {relative.lower(): relative for relative in relatives if relative.lower() not in ignored}


def file_drift(destination: Path, name: str, digest: str, installed: dict[str, str]) -> Drift | None:
    """MISSING or CHANGED for one file the package lists, None when it is as built."""
    found = installed.pop(name.lower(), None)
    if found is None:
        return Drift(name, MISSING)
    return None if file_sha256(destination / found) == digest else Drift(name, CHANGED)


def component_drift(destination: Path, expected: dict[str, str], ignored: frozenset[str] = frozenset()) -> list[Drift]:
    """The files under `destination` that are missing, changed or not the package's, sorted by path.

    `ignored`: relative paths (`/`, lower case) that are not files of the component (the status file)."""
    installed = installed_files(destination, ignored)
    drift = [item for name, digest in expected.items() if (item := file_drift(destination, name, digest, installed))]
    drift += [Drift(relative, EXTRA) for relative in installed.values()]
    shown = (Drift(item.path.replace("/", "\\"), item.kind) for item in drift)
    return sorted(shown, key=lambda item: item.path.lower())
