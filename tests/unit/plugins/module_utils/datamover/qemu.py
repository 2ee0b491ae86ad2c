"""Test fixtures made by real tools: raw images with data, zero runs and holes; VHDX files from qemu-img.

A raw image is described by a layout of (offset, length, kind) with kind "data" (reproducible
pseudo-random bytes), "zero" (zero bytes actually written, so allocated in the file) or "hole"
(never written). qemu-img turns it into VHDX files, and `raw_of()` turns any image back into the
bytes qemu sees, so tests compare our reader against qemu, an independent implementation.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

MiB = 1 << 20
Layout = Sequence[Tuple[int, int, str]]


def pattern(seed: str, length: int) -> bytes:
    """Reproducible, incompressible bytes (SHA-256 in counter mode)."""
    digest = (hashlib.sha256(f"{seed}/{n}".encode()).digest() for n in range(length // 32 + 1))
    return b"".join(digest)[:length]


def qemu_img(*args: str) -> str:
    result = subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"qemu-img {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def make_raw(path: Path, size: int, layout: Layout) -> bytes:
    """Write a sparse raw image following `layout`; return its full content."""
    content = bytearray(size)
    with open(path, "wb") as handle:
        handle.truncate(size)
        for offset, length, kind in layout:
            if kind == "hole":
                continue
            data = pattern(f"{path.name}@{offset}", length) if kind == "data" else bytes(length)
            handle.seek(offset)
            handle.write(data)
            content[offset : offset + length] = data
    return bytes(content)


def create_vhdx(path: Path, size: int, **options: str) -> Path:
    """An empty VHDX from `qemu-img create`, e.g. subformat="fixed", block_size="8M", log_size="2M"."""
    opts = ",".join(f"{key}={value}" for key, value in options.items())
    qemu_img("create", "-q", "-f", "vhdx", *(["-o", opts] if opts else []), str(path), str(size))
    return path


def convert_to_vhdx(raw: Path, path: Path, **options: str) -> Path:
    """`qemu-img convert -O vhdx` of a raw image (zero runs are left unallocated by qemu)."""
    opts = ",".join(f"{key}={value}" for key, value in options.items())
    qemu_img("convert", "-f", "raw", "-O", "vhdx", *(["-o", opts] if opts else []), str(raw), str(path))
    return path


def qemu_io(path: Path, *commands: str) -> None:
    """Run qemu-io commands (e.g. "write -P 0xab 1M 64k") against a VHDX."""
    args = [part for command in commands for part in ("-c", command)]
    result = subprocess.run(["qemu-io", "-f", "vhdx", *args, str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0 or "error" in result.stdout.lower():
        raise AssertionError(f"qemu-io {commands} failed: {result.stdout} {result.stderr}")


def raw_of(image: Path, image_format: str = "vhdx") -> bytes:
    """The virtual content of `image` as qemu reads it."""
    out = image.with_suffix(".qemu-raw")
    qemu_img("convert", "-f", image_format, "-O", "raw", str(image), str(out))
    data = out.read_bytes()
    out.unlink()
    return data


def qemu_map(image: Path, image_format: str = "raw") -> List[Dict[str, object]]:
    return json.loads(qemu_img("map", "--output=json", "-f", image_format, str(image)))


def data_ranges_of_raw(image: Path) -> List[Tuple[int, int]]:
    """(start, end) ranges qemu-img map reports as holding data in a raw image (its allocated ranges)."""
    return merge([(item["start"], item["start"] + item["length"]) for item in qemu_map(image) if item["data"]])


def blocks_holding_nonzero(content: bytes, block_size: int) -> List[Tuple[int, int]]:
    """(start, end) of every block of `content` that holds a non-zero byte, merged."""
    ranges = []
    for start in range(0, len(content), block_size):
        if content[start : start + block_size].strip(b"\x00"):
            ranges.append((start, min(start + block_size, len(content))))
    return merge(ranges)


def merge(ranges: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif end > start:
            merged.append((start, end))
    return merged


def file_state(path: Path) -> Tuple[str, int]:
    """(sha256 of the bytes, mtime in ns): shows a reader left the file untouched."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns
