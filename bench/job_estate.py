"""The estate bench/job.py backs up: cluster CL1 (hv1, hv2) with two CSVs, proxies px1 and px2 reading both LUNs,
and per VM one dynamic VHDX made by qemu-img, half of its virtual size random data."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import yaml

MiB = 1 << 20
CREDENTIALS = {"username": "Administrator", "password": "Lab-Passw0rd!"}


def make_disk(path: Path, size: int, seed: int) -> None:
    """A dynamic VHDX whose first half holds random data in 1 MiB runs, the rest never written."""
    raw, rng = path.with_suffix(".raw"), random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with raw.open("wb") as disk:
        disk.truncate(size)
        for offset in range(0, size // 2, MiB):
            disk.seek(offset)
            disk.write(rng.randbytes(min(MiB, size // 2 - offset)))
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", str(raw), str(path)], check=True)
    raw.unlink()


def estate(work: Path, vms: int, disk: int, pin: bool) -> Path:
    """hv1/hv2 (CL1, CSVs Volume1 and Volume2), px1/px2 reading both LUNs; VM i on hv(i%2+1), CSV by i//2 % 2; with
    ``pin`` px1's data mover runs on core 0, px2's on core 1."""
    hosts: dict[str, list[dict[str, Any]]] = {"hv1": [], "hv2": []}
    for index in range(vms):
        name, volume = f"vm{index:03d}", f"Volume{index // 2 % 2 + 1}"
        file = work / "disks" / f"{name}.vhdx"
        make_disk(file, disk, seed=index)
        path = f"C:\\ClusterStorage\\{volume}\\{name}\\{name}.vhdx"
        hosts[f"hv{index % 2 + 1}"].append({"name": name, "disks": [{"path": path, "file": str(file)}]})
    document = {
        "domains": [{"dns": "contoso.local"}],
        "luns": [{"id": "csv1"}, {"id": "csv2"}],
        "defaults": {"vss_providers": [{"name": "Contoso Array VSS Hardware Provider", "version": "5.2.1"}]},
        "clusters": [{"name": "CL1", "nodes": ["hv1", "hv2"], "csvs": [{"lun": "csv1"}, {"lun": "csv2"}]}],
        "hosts": [
            {
                "name": "hv1",
                "address": "127.0.0.61",
                "connection": "winrm",
                "credentials": CREDENTIALS,
                "role": "hyperv",
                "vms": hosts["hv1"],
            },
            {
                "name": "hv2",
                "address": "127.0.0.62",
                "connection": "psrp",
                "credentials": CREDENTIALS,
                "role": "hyperv",
                "vms": hosts["hv2"],
            },
            {
                "name": "px1",
                "address": "127.0.0.63",
                "connection": "psrp",
                "credentials": CREDENTIALS,
                "role": "proxy",
                "luns": ["csv1", "csv2"],
                **({"cpus": [0]} if pin else {}),
            },
            {
                "name": "px2",
                "address": "127.0.0.64",
                "connection": "winrm",
                "credentials": CREDENTIALS,
                "role": "proxy",
                "luns": ["csv1", "csv2"],
                **({"cpus": [1]} if pin else {}),
            },
        ],
    }
    path = work / "estate.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
