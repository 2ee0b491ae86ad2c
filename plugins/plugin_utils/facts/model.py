"""Typed, immutable view of one host's ``hyperv_offhost`` facts, as the checks read them.

Words used here:
- *section*: one top-level key of the facts document (``os``, ``cluster``, ``disks`` ...).
- A section's value is its dataclass (or tuple of them), ``None`` where the schema allows null
  (``cluster``, ``smb``: "does not apply to this host"), a SectionError when the probe failed to
  collect it, or NOT_COLLECTED when the document has no such key.
- ``HostFacts.section(name)`` returns the usable value or raises SectionUnavailable, which the
  check runner turns into an ``unknown`` finding that names the host and the section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SectionError:
    """The probe reported this section as failed."""

    message: str
    category: str | None = None
    exception: str | None = None


class _NotCollected:
    """Marker for a section the facts document does not contain."""

    _instance: _NotCollected | None = None

    def __new__(cls) -> _NotCollected:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_COLLECTED"


NOT_COLLECTED = _NotCollected()


class SectionUnavailable(LookupError):
    """A check needed a section that errored on the host or was not collected."""

    def __init__(self, host: str, section: str, reason: str) -> None:
        self.host = host
        self.section = section
        self.reason = reason
        super().__init__(f"facts of {host} lack section '{section}': {reason}")


@dataclass(frozen=True)
class OsInfo:
    caption: str
    version: str
    build: int
    ubr: int | None = None
    manufacturer: str | None = None
    model: str | None = None
    is_virtual_machine: bool | None = None

    @property
    def major(self) -> str:
        """Major.minor of the NT version ('10.0'); Windows Server 2016-2025 share it, the build tells them apart."""
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class HyperVRole:
    installed: bool
    version: str | None = None


@dataclass(frozen=True)
class LocalGroup:
    sid: str
    members: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class Identity:
    computer_name: str
    part_of_domain: bool
    fqdn: str | None = None
    domain: str | None = None
    dns_domain: str | None = None
    forest: str | None = None
    account_name: str | None = None
    account_sid: str | None = None
    domain_sid: str | None = None
    group_sids: tuple[str, ...] | None = None
    local_groups: tuple[LocalGroup, ...] = ()


@dataclass(frozen=True)
class LunId:
    serial_number: str | None = None
    unique_id: str | None = None
    unique_id_format: str | None = None
    disk_number: int | None = None


@dataclass(frozen=True)
class SharedVolume:
    name: str
    path: str
    luns: tuple[LunId, ...]
    owner_node: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Cluster:
    name: str
    nodes: tuple[str, ...]
    shared_volumes: tuple[SharedVolume, ...]


@dataclass(frozen=True)
class Disk:
    number: int
    readable: bool | None
    friendly_name: str | None = None
    serial_number: str | None = None
    unique_id: str | None = None
    unique_id_format: str | None = None
    bus_type: str | None = None
    size: int | None = None
    operational_status: str | None = None
    is_offline: bool | None = None
    is_read_only: bool | None = None
    read_error: str | None = None


@dataclass(frozen=True)
class VssProvider:
    id: str
    name: str
    type: str
    version: str | None = None
    transportable: bool | None = None


@dataclass(frozen=True)
class Feature:
    name: str
    installed: bool
    display_name: str | None = None
    install_state: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class DedupVolume:
    volume: str
    enabled: bool
    usage_type: str | None = None


@dataclass(frozen=True)
class SmbShare:
    name: str
    path: str
    scope_name: str | None = None
    continuously_available: bool | None = None
    share_sddl: str | None = None
    path_sddl: str | None = None
    error: SectionError | None = None


@dataclass(frozen=True)
class Smb:
    shares: tuple[SmbShare, ...]


@dataclass(frozen=True)
class Trust:
    target: str
    direction: str
    source: str | None = None
    target_netbios: str | None = None
    trust_type: str | None = None
    forest_transitive: bool | None = None
    intra_forest: bool | None = None
    transitive: bool | None = None


@dataclass(frozen=True)
class VirtualDisk:
    path: str
    format: str | None = None
    controller_type: str | None = None
    controller_number: int | None = None
    controller_location: int | None = None


@dataclass(frozen=True)
class Vm:
    name: str
    disks: tuple[VirtualDisk, ...]
    id: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Component:
    """An installed proxy component: by its record (``name``), its service (``service_name``), or both."""

    role: str
    service_name: str | None = None  # None: no service runs it (the data mover runs per job)
    name: str | None = None  # the record HKLM:\\SOFTWARE\\backup.hyperv\\Components\\<name>; None: found by its service
    display_name: str | None = None
    version: str | None = None
    state: str | None = None
    start_mode: str | None = None


SECTIONS = (
    "os",
    "hyperv",
    "identity",
    "cluster",
    "disks",
    "vss_providers",
    "features",
    "dedup_volumes",
    "smb",
    "trusts",
    "vms",
    "components",
)


@dataclass(frozen=True)
class HostFacts:
    """One host's facts. ``name`` is its inventory name; sections follow the module docstring."""

    name: str
    schema_version: str
    os: Any = NOT_COLLECTED
    hyperv: Any = NOT_COLLECTED
    identity: Any = NOT_COLLECTED
    cluster: Any = NOT_COLLECTED
    disks: Any = NOT_COLLECTED
    vss_providers: Any = NOT_COLLECTED
    features: Any = NOT_COLLECTED
    dedup_volumes: Any = NOT_COLLECTED
    smb: Any = NOT_COLLECTED
    trusts: Any = NOT_COLLECTED
    vms: Any = NOT_COLLECTED
    components: Any = NOT_COLLECTED

    def section(self, name: str) -> Any:
        """The section's value (possibly None = does not apply); raise SectionUnavailable if unusable."""
        value = getattr(self, name)
        if value is NOT_COLLECTED:
            raise SectionUnavailable(self.name, name, "not collected")
        if isinstance(value, SectionError):
            category = f" ({value.category})" if value.category else ""
            raise SectionUnavailable(self.name, name, f"probe error{category}: {value.message}")
        return value

    @property
    def aliases(self) -> frozenset[str]:
        """Upper-cased names this host answers to: inventory name, computer name, FQDN, short FQDN."""
        names = {self.name, self.name.split(".")[0]}
        identity = self.identity
        if isinstance(identity, Identity):
            names.add(identity.computer_name)
            if identity.fqdn:
                names.update({identity.fqdn, identity.fqdn.split(".")[0]})
        return frozenset(name.upper() for name in names if name)

    @property
    def cluster_names(self) -> frozenset[str]:
        """Names of the clusters this host is a node of (empty when not clustered or unknown)."""
        return frozenset({self.cluster.name}) if isinstance(self.cluster, Cluster) else frozenset()

    def feature(self, name: str) -> Feature | None:
        """The named Windows feature from the ``features`` section (raises if that section is unusable)."""
        for feature in self.section("features"):
            if feature.name.lower() == name.lower():
                return feature
        return None
