"""Generate the benchmark corpus: VHDX disks of several VMs cloned from one OS image, and a second day.

Words used here:
- *OS region*: the first part of every disk, byte-identical across VMs (they were cloned from one
  template), so a deduplicating tool should store it once.
- *shifted clone*: a copy of the first part of the OS region that every VM holds at its own offset, a
  multiple of the 512-byte sector but not of 4 KiB (what the same files installed or copied by each guest
  look like at block level). A tool chunking on a fixed grid cannot match it against the OS region or
  across VMs; a content-defined chunker can. Without it every shared byte would sit at the same offset of
  a 1 MiB grid in every disk, which fits fixed 1 MiB chunks exactly and flatters them.
- *unique region*: per-VM data of mixed compressibility: text-like (zstd ~3.5x), random
  (incompressible, like media or encrypted files), log-like (highly compressible) and zero runs.
- *unallocated*: never written, so ``qemu-img convert`` leaves the VHDX blocks absent.
- *day 2*: runs of odd lengths at arbitrary byte offsets, starting in about 5 % of the written MiB blocks
  (a run may cross into the next block), plus a little growth into unallocated space; the exact byte
  ranges written are the "changed ranges" Hyper-V RCT would report.

Disks are written as sparse raw files and converted with ``qemu-img convert -O vhdx`` (dynamic,
32 MiB blocks, the Hyper-V default). Content comes from BLAKE3's XOF, so it is deterministic and fast.
"""

from __future__ import annotations

import array
import json
import random
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import blake3

MIB = 1 << 20
LAYOUT_VERSION = 5  # bump when the layout below changes so cached corpora are rebuilt
VHDX_BLOCK = "32M"

# MiB-block content mixes (weights) for each region.
OS_MIX = {"text": 0.40, "random": 0.30, "log": 0.18, "zero": 0.12}
UNIQUE_MIX = {"text": 0.50, "random": 0.35, "zero": 0.15}
CHANGED_FRACTION = 0.05
SECTOR = 512
# Per-scale-1 sizes in MiB: the OS region, the shifted clone of its first part, the unique region (their sum,
# 900 MiB of written blocks per VM, is what layout 4 wrote, so the run time stays the same).
OS_MIB, SHIFTED_MIB, UNIQUE_MIB = 600, 100, 200
GROWTH_FRACTION = 0.005
# The memory-growth pair: a small disk and one 4x larger, the same whatever --size (only the ratio matters).
GROWTH_SCALES = {"small": 0.5, "large": 2.0}
# Bytes on disk per VM at scale 1 (measured): both days' VHDX files and the build's temporary raw images.
DISK_BYTES_PER_VM = 2_200_000_000


@dataclass
class Disk:
    """One VM disk of the corpus and what day 2 changed in it."""

    vm: str
    day1: str
    day2: str
    virtual_size: int
    data_bytes: int  # bytes in non-zero MiB blocks on day 1 (what any tool must hash and compress)
    changed_ranges: list = field(default_factory=list)  # [[offset, length], ...] in virtual-disk bytes
    config_day1: str = ""
    config_day2: str = ""


def _stream(tag: str, length: int) -> bytes:
    return blake3.blake3(tag.encode()).digest(length=length)


def _phrases() -> list:
    """65,536 short phrases over a small vocabulary: text that compresses like prose (zstd ~3.5x)."""
    rng = random.Random(7)
    syllables = [
        bytes(s, "ascii")
        for s in ["ka", "lo", "mi", "ne", "ro", "ta", "su", "vi", "de", "an", "er", "in", "th", "or", "es", "al"]
    ]
    words = [b"".join(rng.choices(syllables, k=rng.randint(1, 4))) for word in range(4096)]
    out = []
    for i in range(65536):
        picks = [words[int(rng.paretovariate(1.2)) % 4096] for pick in range(3)] + [words[rng.randrange(4096)]]
        out.append(b" ".join(picks) + (b".\n" if i % 5 == 0 else b" "))
    return out


_PHRASES = _phrases()


def _text(tag: str, length: int) -> bytes:
    indices = array.array("H")
    indices.frombytes(_stream(tag, length // 8 + 2))  # a phrase is ~25 bytes, so this is plenty
    return b"".join(map(_PHRASES.__getitem__, indices))[:length]


def _log(tag: str, length: int) -> bytes:
    seed = int.from_bytes(_stream(tag, 4), "little")
    lines = [
        f"2026-11-{seed % 28 + 1:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d} svc[{seed % 9000}] "
        f"request {n} completed status=200 bytes={n * 37 % 65536}\n"
        for n in range(seed, seed + length // 60)
    ]
    return "".join(lines).encode().ljust(length, b"\n")[:length]


def block_content(kind: str, tag: str) -> bytes:
    """One MiB of the given kind; the tag makes it unique (same tag, same bytes)."""
    if kind == "random":
        return _stream(tag, MIB)
    if kind == "text":
        return _text(tag, MIB)
    if kind == "log":
        return _log(tag, MIB)
    return bytes(MIB)


def _plan(mix: dict, count: int, rng: random.Random) -> list:
    kinds, weights = list(mix), list(mix.values())
    return rng.choices(kinds, weights, k=count)


def _write_region(raw: Path, start_mib: int, kinds: list, tag: str) -> list:
    """Write one region MiB by MiB; return the MiB numbers holding data (zero blocks stay holes)."""
    written = []
    with raw.open("r+b") as f:
        for i, kind in enumerate(kinds):
            if kind == "zero":
                continue
            f.seek((start_mib + i) * MIB)
            f.write(block_content(kind, f"{tag}/{i}"))
            written.append(start_mib + i)
    return written


def _to_vhdx(raw: Path, vhdx: Path) -> None:
    vhdx.parent.mkdir(parents=True, exist_ok=True)
    opts = f"subformat=dynamic,block_size={VHDX_BLOCK}"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", opts, str(raw), str(vhdx)], check=True)


def _day2_changes(raw: Path, data_mib: list, free_mib: list, tag: str) -> list:
    """Write runs of odd lengths at arbitrary offsets in ~5 % of the data blocks and grow into a few free
    ones; return the byte ranges written."""
    rng = random.Random(tag)
    targets = rng.sample(data_mib, max(1, int(len(data_mib) * CHANGED_FRACTION)))
    growth = free_mib[: max(1, int(len(data_mib) * GROWTH_FRACTION))]
    ranges = []
    with raw.open("r+b") as f:
        for n, mib in enumerate(sorted(targets)):
            start = mib * MIB + rng.randrange(0, MIB)
            length = rng.randrange(16 * 4096, MIB) | 1  # odd: on no sector, page or chunk boundary
            kind = "random" if n % 3 == 0 else "text"
            f.seek(start)
            f.write(block_content(kind, f"{tag}/chg/{mib}")[:length])
            ranges.append([start, length])
        for mib in growth:
            f.seek(mib * MIB)
            f.write(block_content("text", f"{tag}/grow/{mib}"))
            ranges.append([mib * MIB, MIB])
    return sorted(ranges)


def sector_shift(vm: str) -> int:
    """The VM's offset for its shifted clone: whole sectors, never a whole 4 KiB page (nor a MiB)."""
    pages, sectors = random.Random(f"{vm}/shift").randrange(256), random.Random(f"{vm}/sectors").randrange(1, 8)
    return pages * 4096 + sectors * SECTOR


def _write_shifted_clone(raw: Path, base: Path, start_mib: int, length: int, shift: int) -> list:
    """Copy the base's first ``length`` bytes to ``start_mib`` MiB + ``shift``; return the MiB numbers it
    touches that hold data (all-zero stretches of the copy stay holes, as in a guest's sparse file)."""
    with base.open("rb") as source, raw.open("r+b") as target:
        content = source.read(length)
        offset = start_mib * MIB + shift
        for at in range(0, length, MIB):
            piece = content[at : at + MIB]
            if piece.count(0) != len(piece):
                target.seek(offset + at)
                target.write(piece)
    first, last = start_mib, (start_mib * MIB + shift + length - 1) // MIB
    return list(range(first, last + 1))


def _config_file(path: Path, vm: str, day: int) -> str:
    """A small stand-in for the VM's configuration file (.vmcx), changed a little on day 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_log(f"{vm}/config/{day}", 96 * 1024))
    return str(path)


def _make_vm(root: Path, base: Path, vm: str, scale: float, base_data: list) -> Disk:
    virtual_mib = max(64, round(2048 * scale))
    os_mib, gap_mib = round(OS_MIB * scale), max(32, round(64 * scale))
    shifted_mib, unique_mib = round(SHIFTED_MIB * scale), round(UNIQUE_MIB * scale)
    raw = root / f"{vm}.raw"
    subprocess.run(["cp", "--sparse=always", str(base), str(raw)], check=True)
    shifted_start = os_mib + gap_mib
    shifted = _write_shifted_clone(raw, base, shifted_start, shifted_mib * MIB, sector_shift(vm))
    unique_start = shifted_start + shifted_mib + 1  # the shifted copy spills into one more MiB
    unique = _write_region(raw, unique_start, _plan(UNIQUE_MIX, unique_mib, random.Random(vm)), f"{vm}/unique")
    data = base_data + shifted + unique
    name = f"{vm}-disk0.vhdx"
    disk = Disk(vm, str(root / "day1" / vm / name), str(root / "day2" / vm / name), virtual_mib * MIB, len(data) * MIB)
    _to_vhdx(raw, Path(disk.day1))
    free = list(range(unique_start + unique_mib + gap_mib, virtual_mib))
    disk.changed_ranges = _day2_changes(raw, data, free, vm)
    _to_vhdx(raw, Path(disk.day2))
    raw.unlink()
    disk.config_day1 = _config_file(root / "day1" / vm / f"{vm}.vmcx", vm, 1)
    disk.config_day2 = _config_file(root / "day2" / vm / f"{vm}.vmcx", vm, 2)
    return disk


def _make_set(root: Path, names: list, scale: float) -> list:
    virtual_mib = max(64, round(2048 * scale))
    root.mkdir(parents=True, exist_ok=True)
    base = root / "os-template.raw"
    with base.open("wb") as f:
        f.truncate(virtual_mib * MIB)
    os_kinds = _plan(OS_MIX, round(OS_MIB * scale), random.Random("os"))
    base_data = _write_region(base, 0, os_kinds, "os")
    disks = [_make_vm(root, base, vm, scale, base_data) for vm in names]
    base.unlink()
    return disks


def footprint(vms: int, scale: float) -> int:
    """About how many bytes the corpus takes on disk while it is built, growth disks included."""
    return round(DISK_BYTES_PER_VM * (vms * scale + sum(GROWTH_SCALES.values())))


def build(root: Path, vms: int, scale: float) -> dict:
    """Build (or reuse) the corpus under root; return its manifest."""
    manifest_path = root / "manifest.json"
    params = {"layout": LAYOUT_VERSION, "vms": vms, "scale": scale}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("params") == params and all(Path(d["day2"]).exists() for d in manifest["disks"]):
            return manifest
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    disks = _make_set(root, [f"vm{i + 1}" for i in range(vms)], scale)
    # Single-VM disks of two sizes, for the "memory stays flat as the disk grows" check.
    growth = {key: _make_set(root / f"rss-{key}", [key], scale_of)[0] for key, scale_of in GROWTH_SCALES.items()}
    manifest = {
        "params": params,
        "disks": [asdict(d) for d in disks],
        "rss_disks": {k: asdict(v) for k, v in growth.items()},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


# The largest virtual size a VHDX may declare (64 TiB, MS-VHDX 2.6.2.2 "Virtual Disk Size"), holding a few written
# stretches far apart: what the data mover keeps per chunk of the virtual size shows up here, and only here.
HUGE_VIRTUAL_SIZE = "64T"
HUGE_WRITES = ((0, 4 * MIB, 0x5A), (32 << 40, MIB, 0xA5), ((64 << 40) - MIB, MIB, 0x3C))  # (offset, length, byte)


def build_huge_disk(root: Path) -> Path:
    """A dynamic VHDX of HUGE_VIRTUAL_SIZE made by qemu-img, with HUGE_WRITES written by qemu-io (a few MiB on disk)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "huge.vhdx"
    path.unlink(missing_ok=True)
    options = f"subformat=dynamic,block_size={VHDX_BLOCK}"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", "-o", options, str(path), HUGE_VIRTUAL_SIZE], check=True)
    writes = [arg for offset, length, byte in HUGE_WRITES for arg in ("-c", f"write -P {byte} {offset} {length}")]
    subprocess.run(["qemu-io", "-f", "vhdx", *writes, str(path)], check=True, capture_output=True)
    return path
