"""What a file-level operation asks of a restore point's guest: which volume, which path, what to match,
where to extract. Frozen, checked by ``from_params`` (one place for each rule and default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.targets import SMB_PORT, SmbCredentials
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import LATEST

GUEST_OPERATIONS = ("ls", "find", "restore_file")
ROOT = "\\"


@dataclass(frozen=True)
class GuestQuery:
    """A volume of a restore point (``disk`` and ``partition`` None: the only one) and a path in it."""

    vm: Optional[str] = None
    restore_point: str = LATEST
    disk: Optional[str] = None
    partition: Optional[int] = None
    path: str = ROOT  # ls: the folder; find: where to search; restore_file: the file or folder to extract
    pattern: Optional[str] = None  # find: a glob such as *.docx, or Reports\*\q?.txt
    destination: Optional[str] = None  # restore_file: a folder of the data mover host, or a UNC path
    overwrite: bool = False
    smb_username: Optional[str] = None  # restore_file to a UNC path through SMB (guest/targets.py)
    smb_password: Optional[str] = field(default=None, repr=False)
    smb_port: int = SMB_PORT

    @classmethod
    def from_params(cls, operation: str, p: Mapping[str, Any]) -> GuestQuery:
        """From the module's parameters; raises naming the option that is missing or wrong."""
        if not p.get("vm") and p.get("restore_point") in (None, LATEST):
            raise DataMoverError(f"{operation} needs vm (its latest restore point) or a restore_point id")
        partition = p.get("partition")
        if partition is not None and (isinstance(partition, bool) or not isinstance(partition, int) or partition < 1):
            raise DataMoverError(f"partition must be a partition number from 1 (got {partition!r})")
        if operation == "find" and not p.get("pattern"):
            raise DataMoverError("find needs pattern, a glob such as *.docx")
        if operation == "restore_file" and not p.get("destination"):
            raise DataMoverError("restore_file needs destination, a folder to extract into")
        port = p.get("smb_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise DataMoverError(f"smb_port must be a TCP port from 1 to 65535 (got {port!r})")
        keys = ("vm", "restore_point", "disk", "partition", "path", "pattern", "destination", "overwrite")
        keys += ("smb_username", "smb_password", "smb_port")
        return cls(**{key: p[key] for key in keys if p.get(key) is not None})  # type: ignore[arg-type]

    def smb_credentials(self) -> SmbCredentials:
        return SmbCredentials(self.smb_username, self.smb_password, self.smb_port)

    def to_params(self) -> Dict[str, Any]:
        return asdict(self)
