"""The Windows side of an estate: domains, trusts, LUNs, clusters and, per host, what Windows reports.

`parse_model(document)` checks an estate document (already checked for names, addresses and
credentials by `lab.estate.loader`) and returns a `WindowsEstate` of frozen dataclasses, with the
defaults a healthy estate needs filled in. Errors name the place: `hosts[2] (px2).luns[0]: ...`.
The format is documented in docs/lab.md ("Estate"); the parsing of host entries is in
`hosts.py`, the small readers in `fields.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.estate.fields import (
    EstateError,
    Where,
    check_keys,
    derived_sid,
    mapping,
    optional_bool,
    sequence,
    sid,
    size,
    text,
)
from lab.estate.hosts import WindowsHost, parse_host

TRUST_DIRECTIONS = {"bidirectional": "Bidirectional", "outbound": "Outbound", "inbound": "Inbound"}
TRUST_KINDS = ("forest", "external", "parent_child", "realm")
TOP_LEVEL_KEYS = {"hosts", "domains", "trusts", "luns", "clusters", "defaults", "rct_block", "churn_percent"}
# The granularity the lab's RCT rounds changed ranges out to (lab.windows.rct): the lab's assumption, Microsoft
# documents none; and the share of each disk `lab churn` writes when not told.
DEFAULT_RCT_BLOCK = 256 << 10
DEFAULT_CHURN_PERCENT = 2.0


@dataclass(frozen=True)
class Domain:
    netbios: str
    dns: str
    sid: str
    forest: str


@dataclass(frozen=True)
class Trust:
    """A direct trust as `domain` sees it (`partner` sees the opposite direction)."""

    domain: str
    partner: str
    direction: str  # Bidirectional, Outbound (domain trusts partner), Inbound
    kind: str
    transitive: bool


@dataclass(frozen=True)
class Lun:
    id: str
    serial: str
    unique_id: str
    size: int
    product: str
    bus: str
    signature: int


@dataclass(frozen=True)
class Csv:
    name: str
    path: str
    owner: str
    lun: str
    dedup: bool


@dataclass(frozen=True)
class Cluster:
    name: str
    nodes: tuple[str, ...]
    csvs: tuple[Csv, ...]


@dataclass(frozen=True)
class WindowsEstate:
    domains: tuple[Domain, ...] = ()
    trusts: tuple[Trust, ...] = ()
    luns: tuple[Lun, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    hosts: tuple[WindowsHost, ...] = field(default_factory=tuple)
    rct_block: int = DEFAULT_RCT_BLOCK
    churn_percent: float = DEFAULT_CHURN_PERCENT

    def host(self, name: str) -> WindowsHost:
        return next(host for host in self.hosts if host.name == name)

    def domain(self, dns: str | None) -> Domain | None:
        return next((d for d in self.domains if dns and d.dns.lower() == dns.lower()), None)

    def lun(self, lun_id: str) -> Lun:
        return next(lun for lun in self.luns if lun.id == lun_id)

    def cluster_of(self, host: str) -> Cluster | None:
        return next((cluster for cluster in self.clusters if host in cluster.nodes), None)

    def find_host(self, name: str) -> WindowsHost | None:
        """A host by inventory name, computer name or FQDN (case-blind), as a UNC path names it."""
        wanted = name.lower()
        for host in self.hosts:
            domain = self.domain(host.domain)
            names = {host.name.lower(), host.computer_name.lower()}
            if domain:
                names.add(f"{host.computer_name}.{domain.dns}".lower())
            if wanted in names:
                return host
        return None


def _domain(entry: Any, where: Where) -> Domain:
    check_keys(entry, where, required={"dns"}, optional={"name", "sid", "forest"})
    dns = text(entry["dns"], where / "dns").lower()
    return Domain(
        netbios=text(entry.get("name", dns.split(".")[0].upper()), where / "name").upper(),
        dns=dns,
        sid=sid(entry["sid"], where / "sid") if "sid" in entry else derived_sid(dns),
        forest=text(entry.get("forest", dns), where / "forest").lower(),
    )


def _trust(entry: Any, where: Where, domains: dict[str, Domain]) -> Trust:
    check_keys(entry, where, required={"domain", "partner"}, optional={"direction", "type", "transitive"})
    names = []
    for key in ("domain", "partner"):
        name = text(entry[key], where / key).lower()
        if name not in domains:
            raise EstateError(f"{where / key}: unknown domain {name!r} (declare it under domains)")
        names.append(name)
    direction = str(entry.get("direction", "bidirectional")).lower()
    if direction not in TRUST_DIRECTIONS:
        raise EstateError(f"{where / 'direction'}: must be one of {', '.join(TRUST_DIRECTIONS)}, got {direction!r}")
    kind = str(entry.get("type", "forest"))
    if kind not in TRUST_KINDS:
        raise EstateError(f"{where / 'type'}: must be one of {', '.join(TRUST_KINDS)}, got {kind!r}")
    transitive = optional_bool(entry.get("transitive"), where / "transitive")
    return Trust(
        domain=names[0],
        partner=names[1],
        direction=TRUST_DIRECTIONS[direction],
        kind=kind,
        transitive=kind in ("forest", "parent_child") if transitive is None else transitive,
    )


def _lun(entry: Any, where: Where, index: int) -> Lun:
    check_keys(entry, where, required={"id"}, optional={"serial", "unique_id", "size", "product", "bus"})
    lun_id = text(entry["id"], where / "id")
    number = 0x10000 + index
    return Lun(
        id=lun_id,
        serial=text(entry.get("serial", f"LABLUN{number:08X}"), where / "serial"),
        unique_id=text(entry.get("unique_id", f"60002AC0000000000000{number:012X}"), where / "unique_id"),
        size=size(entry.get("size", "1T"), where / "size"),
        product=text(entry.get("product", "3PARdata VV"), where / "product"),
        bus=text(entry.get("bus", "Fibre Channel"), where / "bus"),
        signature=0x5A000000 + number,
    )


def _cluster(entry: Any, where: Where, hosts: set[str], luns: set[str]) -> Cluster:
    check_keys(entry, where, required={"name"}, optional={"nodes", "csvs"})
    nodes = tuple(text(node, where / "nodes") for node in sequence(entry.get("nodes"), where / "nodes"))
    if entry.get("csvs") and not nodes:
        raise EstateError(f"{where}: a cluster with CSVs needs nodes")
    for node in nodes:
        if node not in hosts:
            raise EstateError(f"{where / 'nodes'}: unknown host {node!r}")
    csvs = []
    for index, csv in enumerate(sequence(entry.get("csvs", []), where / "csvs")):
        at = where / f"csvs[{index}]"
        check_keys(csv, at, required={"lun"}, optional={"name", "path", "owner", "dedup"})
        lun = text(csv["lun"], at / "lun")
        if lun not in luns:
            raise EstateError(f"{at / 'lun'}: unknown LUN {lun!r} (declare it under luns)")
        owner = text(csv.get("owner", nodes[0]), at / "owner")
        if owner not in nodes:
            raise EstateError(f"{at / 'owner'}: {owner!r} is not a node of the cluster")
        csvs.append(
            Csv(
                name=text(csv.get("name", f"Cluster Disk {index + 1}"), at / "name"),
                path=text(csv.get("path", f"C:\\ClusterStorage\\Volume{index + 1}"), at / "path").rstrip("\\"),
                owner=owner,
                lun=lun,
                dedup=bool(optional_bool(csv.get("dedup"), at / "dedup")),
            )
        )
    return Cluster(name=text(entry["name"], where / "name").upper(), nodes=nodes, csvs=tuple(csvs))


def _unique(values: list[str], what: str) -> None:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise EstateError(f"{what} declared more than once: {', '.join(duplicates)}")


def parse_model(document: dict[str, Any]) -> WindowsEstate:
    """The Windows model of a checked estate document; raises EstateError naming the faulty place."""
    root = Where("")
    unknown = sorted(set(document) - TOP_LEVEL_KEYS)
    if unknown:
        raise EstateError(
            f"estate: unknown top-level keys: {', '.join(unknown)} (allowed: {', '.join(sorted(TOP_LEVEL_KEYS))})"
        )
    domains = tuple(_domain(e, root / f"domains[{i}]") for i, e in enumerate(sequence(document.get("domains"), root)))
    _unique([d.dns for d in domains], "domains")
    by_dns = {d.dns: d for d in domains}
    trusts = tuple(
        _trust(e, root / f"trusts[{i}]", by_dns) for i, e in enumerate(sequence(document.get("trusts"), root))
    )
    luns = tuple(_lun(e, root / f"luns[{i}]", i) for i, e in enumerate(sequence(document.get("luns"), root)))
    _unique([lun.id for lun in luns], "luns")
    names = {str(entry.get("name")) for entry in document["hosts"]}
    clusters = tuple(
        _cluster(e, root / f"clusters[{i}]", names, {lun.id for lun in luns})
        for i, e in enumerate(sequence(document.get("clusters"), root))
    )
    _unique([node for cluster in clusters for node in cluster.nodes], "cluster nodes (a host is in one cluster)")
    defaults = mapping(document.get("defaults", {}), root / "defaults")
    hosts = tuple(
        parse_host({**defaults, **entry}, root / f"hosts[{i}] ({entry.get('name')})", by_dns, {lun.id for lun in luns})
        for i, entry in enumerate(document["hosts"])
    )
    _unique([host.computer_name for host in hosts], "computer names")
    return WindowsEstate(
        domains=domains,
        trusts=trusts,
        luns=luns,
        clusters=clusters,
        hosts=hosts,
        rct_block=_rct_block(document.get("rct_block", DEFAULT_RCT_BLOCK), root / "rct_block"),
        churn_percent=_percent(document.get("churn_percent", DEFAULT_CHURN_PERCENT), root / "churn_percent"),
    )


def _rct_block(value: Any, where: Where) -> int:
    block = size(value, where)
    if block % 512 or block & (block - 1):
        raise EstateError(f"{where}: {value!r} is not a power of two of at least 512 bytes")
    return block


def _percent(value: Any, where: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise EstateError(f"{where}: must be a number above 0 and at most 100, got {value!r}")
    return float(value)
