"""The estate: which Windows hosts the lab plays, and how they are reached.

An estate is a YAML document. This loader checks what the lab needs to answer over
WS-Management (names, loopback addresses, connections, credentials); the Windows side of the
estate (domains, trusts, LUNs, clusters, and per host its OS, features, storage, providers,
shares and VMs) is checked and defaulted by `lab.estate.model` and kept in `Estate.model`.
docs/lab.md ("Estate") documents the format. A host's `facts` stay free-form for test handlers;
other top-level keys are kept in `Estate.extra`.

    hosts:
      - name: hv1
        address: 127.0.0.21          # one loopback address per host
        connection: winrm            # or psrp: what the written inventory tells Ansible
        credentials: {username: Administrator, password: Passw0rd!}
        role: hyperv                 # and the Windows model's keys (docs/lab.md)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lab.estate.fields import EstateError
from lab.estate.model import parse_model

CONNECTIONS = ("winrm", "psrp")


@dataclass(frozen=True)
class Host:
    """One emulated Windows host."""

    name: str
    address: str
    username: str
    password: str
    connection: str = "winrm"
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Estate:
    hosts: tuple[Host, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    model: Any = None  # lab.estate.model.WindowsEstate

    def groups(self) -> dict[str, list[str]]:
        """Inventory groups by host role, as playbooks/preflight.yml expects them."""
        groups: dict[str, list[str]] = {"hyperv_hosts": [], "offhost_proxies": [], "smb_servers": []}
        for host in self.model.hosts if self.model else ():
            group = {"hyperv": "hyperv_hosts", "proxy": "offhost_proxies", "smb": "smb_servers"}.get(host.role)
            if group:
                groups[group].append(host.name)
        return {name: members for name, members in groups.items() if members}

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def _host(entry: object, index: int) -> Host:
    if not isinstance(entry, dict):
        raise EstateError(f"hosts[{index}] must be a mapping")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise EstateError(f"hosts[{index}] needs a name")
    address = str(entry.get("address", ""))
    try:
        if not ipaddress.IPv4Address(address).is_loopback:
            raise EstateError(f"host {name}: address {address} is not a loopback address (127.0.0.0/8)")
    except ipaddress.AddressValueError as exc:
        raise EstateError(f"host {name}: address {address!r} is not an IPv4 address") from exc
    credentials = entry.get("credentials") or {}
    if not credentials.get("username") or credentials.get("password") is None:
        raise EstateError(f"host {name}: credentials need username and password")
    connection = entry.get("connection", "winrm")
    if connection not in CONNECTIONS:
        raise EstateError(f"host {name}: connection must be one of {', '.join(CONNECTIONS)}")
    return Host(
        name=name,
        address=address,
        username=str(credentials["username"]),
        password=str(credentials["password"]),
        connection=connection,
        facts=dict(entry.get("facts") or {}),
    )


def parse_estate(document: object) -> Estate:
    """Check and convert a loaded YAML document."""
    if not isinstance(document, dict) or not isinstance(document.get("hosts"), list):
        raise EstateError("an estate is a mapping with a list of hosts")
    hosts = tuple(_host(entry, index) for index, entry in enumerate(document["hosts"]))
    for attribute in ("name", "address"):
        values = [getattr(host, attribute) for host in hosts]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise EstateError(f"hosts share a {attribute}: {', '.join(duplicates)}")

    return Estate(
        hosts=hosts,
        extra={key: value for key, value in document.items() if key != "hosts"},
        model=parse_model(document),
    )


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`change` over `base`: top-level keys replace, except `hosts`, merged by name (keys replace)."""
    merged = {**base, **{key: value for key, value in change.items() if key != "hosts"}}
    hosts = [dict(entry) for entry in base.get("hosts") or []]
    for entry in change.get("hosts") or []:
        target = next((h for h in hosts if isinstance(entry, dict) and h.get("name") == entry.get("name")), None)
        if target is None:
            hosts.append(entry)
        else:
            target.update({key: value for key, value in entry.items() if key != "remove"})
            if entry.get("remove"):
                hosts.remove(target)
    merged["hosts"] = hosts
    return merged


def read_estate_document(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """The YAML document of `path`, with `extends: other.yml` (relative to it) resolved."""
    path = path.resolve()
    if path in seen:
        raise EstateError(f"{path}: extends itself through {' -> '.join(str(p) for p in seen)}")
    with open(path, encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    if not isinstance(document, dict) or "extends" not in document:
        return document
    base = read_estate_document(path.parent / str(document.pop("extends")), (*seen, path))
    if not isinstance(base, dict):
        raise EstateError(f"{path}: the estate it extends is not a mapping")
    return _merge(base, document)


def load_estate(path: Path) -> Estate:
    """Read an estate YAML file (and the files it extends)."""
    return parse_estate(read_estate_document(path))
