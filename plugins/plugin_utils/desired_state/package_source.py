"""The proxy package on the controller: the folder or the zip that ``make proxy-package`` builds.

Both hold ``SHA256SUMS`` at their root and the component folders beside it (docs/installs.md). The action
reads ``SHA256SUMS`` from here and sends only the files the proxy lacks, packed in one zip (one transfer,
expanded by proxy_package_apply.ps1), rather than one transfer per file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.package import SUMS
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError


class LocalPackage:
    """A package folder or zip on the controller; members are named with `\\` separators, as on the proxy."""

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            self._zip_names: dict[str, str] | None = None
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as archive:
                names = [info.filename for info in archive.infolist() if not info.is_dir()]
            self._zip_names = {name.replace("/", "\\").casefold(): name for name in names}
        else:
            raise PlanError(
                f"{self.path} is neither a package folder nor a zip: run make proxy-package and name its output"
            )
        if not self.has(SUMS):
            raise PlanError(
                f"{self.path} holds no {SUMS} at its root: name the package folder (or zip) make proxy-package built"
            )

    def has(self, member: str) -> bool:
        if self._zip_names is None:
            return (self.path / member.replace("\\", "/")).is_file()
        return member.casefold() in self._zip_names

    def read(self, member: str) -> bytes:
        """One member's bytes; PlanError when the package lacks it (a package SHA256SUMS lists but misses)."""
        if not self.has(member):
            raise PlanError(f"{self.path} lacks {member}, which its {SUMS} lists: build or copy the package again")
        if self._zip_names is None:
            return (self.path / member.replace("\\", "/")).read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self._zip_names[member.casefold()])

    def sums_text(self) -> str:
        return self.read(SUMS).decode("utf-8")

    def write_zip(self, members: list[str], target: Path) -> None:
        """The given members, `/`-named as zip entries (System.IO.Compression reads them so), into `target`."""
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for member in members:
                archive.writestr(member.replace("\\", "/"), self.read(member))
