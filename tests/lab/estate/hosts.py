"""One host of the Windows model: its OS, domain membership, storage views, providers, shares and VMs.

Everything has the default a healthy Windows Server 2022 host has; `parse_host` fills them in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from lab.checkout import from_checkout
from lab.estate import display_language
from lab.estate.fields import (
    EstateError,
    Where,
    check_keys,
    derived_sid,
    integer,
    mapping,
    optional_bool,
    sequence,
    sid,
    stable_number,
    text,
)
from lab.estate.host_tools import TOOL_KEYS, parse_tools
from lab.estate.vms import Vm, parse_vm, switch_names, windows_path

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts import model as facts_model

ROLES = ("hyperv", "proxy", "smb", "other")
FEATURES = ("Hyper-V", "Failover-Clustering", "FS-Data-Deduplication")
CAPTIONS = {
    14393: "Microsoft Windows Server 2016 Datacenter",
    17763: "Microsoft Windows Server 2019 Datacenter",
    20348: "Microsoft Windows Server 2022 Datacenter",
    26100: "Microsoft Windows Server 2025 Datacenter",
}
PROVIDER_TYPES = {"unknown": 0, "system": 1, "software": 2, "hardware": 3}
INSTALLER_SERVICE = {
    "name": "BackupHyperVInstaller",
    "display_name": "Backup Hyper-V Installer Service",
    "binary_path": '"C:\\Program Files\\backup.hyperv\\Installer\\BackupHyperVInstaller.exe" --service',
    "version": "0.1.0.0",
}
_CONNECTION_KEYS = {"name", "address", "connection", "credentials", "facts"}
# who the host is
_WHO_KEYS = {"role", "computer_name", "domain", "os", "virtual", "features", "groups", "managed", "delegation", "cpus"}
_HAS_KEYS = {"luns", "vss_providers", "dedup_volumes", "shares", "vms", "services", "section_errors", "switches"}
_HOST_KEYS = _WHO_KEYS | _HAS_KEYS | TOOL_KEYS


@dataclass(frozen=True)
class OsInfo:
    caption: str
    version: str
    build: int
    ubr: int | None
    manufacturer: str
    model: str


@dataclass(frozen=True)
class LunView:
    lun: str
    readable: bool | str  # True, False, or "hang" (the read never returns)
    error: str


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    type: int  # Win32_ShadowProvider.Type
    version: str | None


@dataclass(frozen=True)
class Share:
    name: str
    path: str
    share_sddl: str
    path_sddl: str
    continuously_available: bool
    scope_name: str


@dataclass(frozen=True)
class ServiceSeed:
    name: str
    display_name: str
    binary_path: str
    state: str
    start_mode: str
    version: str | None


@dataclass(frozen=True)
class WindowsHost:
    name: str
    role: str
    computer_name: str
    domain: str | None  # DNS name; None: workgroup
    os: OsInfo
    features: tuple[str, ...] | None  # None: the defaults for the role and cluster membership
    groups: tuple[str, ...] | None  # domain groups of the computer account; None: unknown (no S4U)
    rid: int
    machine_sid: str
    luns: tuple[LunView, ...]
    vss_providers: tuple[Provider, ...]
    dedup_volumes: tuple[dict[str, Any], ...]
    shares: tuple[Share, ...]
    vms: tuple[Vm, ...]
    services: tuple[ServiceSeed, ...]
    section_errors: dict[str, str]
    diskshadow_no_op: tuple[str, ...]  # DiskShadow commands that exit 0 having done nothing (lab.windows.diskshadow)
    missing_modules: tuple[str, ...] = ()  # PowerShell modules not installed (MODULE_FEATURES)
    rct_drop_ranges: bool = False  # GetVirtualDiskChanges leaves out every other range: a lying RCT (tests)
    switches: tuple[str, ...] = ()  # Hyper-V virtual switches (Get-VMSwitch); default: LAN on hyperv and proxy hosts
    # Kerberos delegation (or CredSSP) from this host to the file servers: a program run inside a WinRM shell here
    # may read \\server\share (a second hop); without it the file server refuses it (lab.handlers.data_mover).
    delegation: bool = False
    display_language: str = display_language.DEFAULT  # what native tools print in (lab.estate.display_language)
    # PowerShell runs on .NET Framework with legacy path handling (Switch.System.IO.UseLegacyPathHandling): FileStream
    # refuses a "\\.\" device path (lab.windows.dotnet).
    legacy_path_handling: bool = False
    broken_wmi: tuple[str, ...] = ()  # WMI classes Get-CimInstance fails to read here (lab.estate.host_tools)
    # The cores of this machine the lab's data mover runs for this host may use (lab.handlers.data_mover_cpus): a
    # proxy is a machine of its own, so a benchmark gives each proxy its own core. None: every core.
    cpus: tuple[int, ...] | None = None


def _cpus(value: Any, where: Where) -> tuple[int, ...] | None:
    if value is None:
        return None
    cores = tuple(integer(core, where) for core in sequence(value, where))
    if not cores:
        raise EstateError(f"{where}: name at least one core, or leave the key out for every core")
    return cores


def _os(entry: Any, virtual: bool, where: Where) -> OsInfo:
    check_keys(entry, where, set(), {"caption", "version", "build", "ubr", "manufacturer", "model"})
    build = integer(entry.get("build", 20348), where / "build", 1)
    ubr = entry.get("ubr", 2340)
    return OsInfo(
        caption=text(entry.get("caption", CAPTIONS.get(build, "Microsoft Windows Server Datacenter")), where),
        version=text(entry.get("version", f"10.0.{build}"), where / "version"),
        build=build,
        ubr=None if ubr is None else integer(ubr, where / "ubr"),
        manufacturer=text(entry.get("manufacturer", "Microsoft Corporation" if virtual else "Dell Inc."), where),
        model=text(entry.get("model", "Virtual Machine" if virtual else "PowerEdge R750"), where / "model"),
    )


def _lun_view(entry: Any, where: Where, luns: set[str]) -> LunView:
    if not isinstance(entry, dict):
        entry = {"lun": entry}
    check_keys(entry, where, {"lun"}, {"readable", "error"})
    lun = text(entry["lun"], where / "lun")
    if lun not in luns:
        raise EstateError(f"{where}: unknown LUN {lun!r} (declare it under luns)")
    readable = entry.get("readable", True)
    if readable not in (True, False, "hang"):
        raise EstateError(f"{where / 'readable'}: must be true, false or hang, got {readable!r}")
    return LunView(lun, readable, text(entry.get("error", "Access is denied."), where / "error"))


def provider_id(name: str) -> str:
    """The id of a VSS provider that names none (stable: derived from its name)."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"lab-vss-provider:{name}")) + "}"


def _provider(entry: Any, where: Where) -> Provider:
    check_keys(entry, where, {"name"}, {"id", "type", "version"})
    name = text(entry["name"], where / "name")
    kind = entry.get("type", "hardware")
    if kind not in PROVIDER_TYPES:
        raise EstateError(f"{where / 'type'}: must be one of {', '.join(PROVIDER_TYPES)}, got {kind!r}")
    version = entry.get("version")
    return Provider(text(entry.get("id", provider_id(name)), where / "id"), name, PROVIDER_TYPES[kind], version)


def _share(entry: Any, where: Where) -> Share:
    check_keys(entry, where, {"name"}, {"path", "share_sddl", "path_sddl", "continuously_available", "scope_name"})
    name = text(entry["name"], where / "name")
    return Share(
        name=name,
        path=windows_path(entry.get("path", f"D:\\Shares\\{name}"), where / "path", unc=False),
        share_sddl=text(entry.get("share_sddl", "O:SYG:SYD:(A;;FA;;;BA)(A;;FA;;;SY)(A;;0x1200a9;;;AU)"), where),
        path_sddl=text(
            entry.get("path_sddl", "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;AU)"), where
        ),
        continuously_available=bool(optional_bool(entry.get("continuously_available"), where)),
        scope_name=text(entry.get("scope_name", "*"), where / "scope_name"),
    )


def _service(entry: Any, where: Where) -> ServiceSeed:
    check_keys(entry, where, {"name", "binary_path"}, {"display_name", "state", "start_mode", "version"})
    return ServiceSeed(
        name=text(entry["name"], where / "name"),
        display_name=text(entry.get("display_name", entry["name"]), where / "display_name"),
        binary_path=text(entry["binary_path"], where / "binary_path"),
        state=text(entry.get("state", "Running"), where / "state"),
        start_mode=text(entry.get("start_mode", "Auto"), where / "start_mode"),
        version=entry.get("version"),
    )


def _section_errors(value: Any, where: Where) -> dict[str, str]:
    errors = {str(key): text(message, where / str(key)) for key, message in mapping(value, where).items()}
    sections = from_checkout(facts_model).SECTIONS  # the facts document's own list
    unknown = sorted(set(errors) - set(sections))
    if unknown:
        raise EstateError(f"{where}: unknown sections {', '.join(unknown)} (known: {', '.join(sections)})")
    return errors


def _domain_of(entry: dict[str, Any], where: Where, domains: dict[str, Any]) -> str | None:
    if "domain" not in entry:
        return next(iter(domains)) if len(domains) == 1 else None
    if entry["domain"] is None:
        return None
    dns = text(entry["domain"], where / "domain").lower()
    if dns not in domains:
        raise EstateError(f"{where / 'domain'}: unknown domain {dns!r} (declare it under domains)")
    return dns


def parse_host(entry: dict[str, Any], where: Where, domains: dict[str, Any], luns: set[str]) -> WindowsHost:
    unknown = sorted(set(entry) - _CONNECTION_KEYS - _HOST_KEYS)
    if unknown:
        raise EstateError(f"{where}: unknown keys: {', '.join(unknown)}")
    name = str(entry["name"])
    role = entry.get("role", "other")
    if role not in ROLES:
        raise EstateError(f"{where / 'role'}: must be one of {', '.join(ROLES)}, got {role!r}")
    features = entry.get("features")
    for feature in sequence(features, where / "features"):
        if feature not in FEATURES:
            raise EstateError(f"{where / 'features'}: the lab knows {', '.join(FEATURES)}, not {feature!r}")
    groups = entry.get("groups", [])
    services = [_service(s, where / f"services[{i}]") for i, s in enumerate(sequence(entry.get("services"), where))]
    if entry.get("managed", role == "hyperv") and not any(s.name == INSTALLER_SERVICE["name"] for s in services):
        services.append(_service(dict(INSTALLER_SERVICE), where / "managed"))
    virtual = bool(optional_bool(entry.get("virtual"), where / "virtual"))
    return WindowsHost(
        name=name,
        role=role,
        computer_name=text(entry.get("computer_name", name.upper()), where / "computer_name").upper(),
        domain=_domain_of(entry, where, domains),
        os=_os(mapping(entry.get("os", {}), where / "os"), virtual, where / "os"),
        features=None if features is None else tuple(features),
        groups=None if groups is None else tuple(sid(g, where / "groups") for g in sequence(groups, where)),
        rid=1100 + stable_number(f"rid:{name}", 50_000),
        machine_sid=derived_sid(f"machine:{name}"),
        luns=tuple(_lun_view(v, where / f"luns[{i}]", luns) for i, v in enumerate(sequence(entry.get("luns"), where))),
        vss_providers=tuple(
            _provider(p, where / f"vss_providers[{i}]")
            for i, p in enumerate(sequence(entry.get("vss_providers"), where))
        ),
        dedup_volumes=tuple(
            {
                "volume": text(v.get("volume"), where),
                "enabled": v.get("enabled", True),
                "usage_type": v.get("usage_type"),
            }
            for v in sequence(entry.get("dedup_volumes"), where / "dedup_volumes")
        ),
        shares=tuple(_share(s, where / f"shares[{i}]") for i, s in enumerate(sequence(entry.get("shares"), where))),
        vms=tuple(parse_vm(v, where / f"vms[{i}]", name) for i, v in enumerate(sequence(entry.get("vms"), where))),
        services=tuple(services),
        section_errors=_section_errors(entry.get("section_errors", {}), where / "section_errors"),
        delegation=bool(optional_bool(entry.get("delegation"), where / "delegation")),
        cpus=_cpus(entry.get("cpus"), where / "cpus"),
        **parse_tools(entry, where),
        switches=switch_names(
            entry.get("switches", ["LAN"] if role in ("hyperv", "proxy") else []), where / "switches"
        ),
    )
