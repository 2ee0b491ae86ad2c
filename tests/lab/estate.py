"""The estate: which Windows hosts the lab plays, and how they are reached.

An estate is a YAML document. This loader reads only what the lab needs to answer over
WS-Management; everything else a host carries goes in `facts`, free-form, for the script
handlers (issue 5 gives the facts their schema). Other top-level keys (clusters, shares,
domains, ...) are kept in `Estate.extra` for handlers that need them.

    hosts:
      - name: hv1
        address: 127.0.0.21          # one loopback address per host
        connection: winrm            # or psrp: what the written inventory tells Ansible
        credentials: {username: Administrator, password: Passw0rd!}
        facts: {os_build: 20348}
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONNECTIONS = ("winrm", "psrp")
_HOST_KEYS = {"name", "address", "connection", "credentials", "facts"}


class EstateError(ValueError):
    """The estate file is not one the lab can play."""


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

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def _host(entry: object, index: int) -> Host:
    if not isinstance(entry, dict):
        raise EstateError(f"hosts[{index}] must be a mapping")
    unknown = set(entry) - _HOST_KEYS
    if unknown:
        raise EstateError(f"hosts[{index}] has unknown keys: {', '.join(sorted(unknown))}")
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
    return Estate(hosts=hosts, extra={key: value for key, value in document.items() if key != "hosts"})


def load_estate(path: Path) -> Estate:
    """Read an estate YAML file."""
    with open(path, encoding="utf-8") as stream:
        return parse_estate(yaml.safe_load(stream))
