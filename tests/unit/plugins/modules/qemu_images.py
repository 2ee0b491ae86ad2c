"""Real VHDX test disks made with ``qemu-img``, and ``qemu-img compare`` as the independent judge.

A disk is described by the writes made to an empty one: ``{offset: bytes}`` (compressible or not, which
the layouts of the reader's ``qemu.py`` do not offer). The helper writes them to a sparse raw file and
converts it with ``qemu.convert_to_vhdx``, so unwritten space stays unallocated in the VHDX and zero
runs inside written blocks stay zero.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Mapping

# The reader's qemu-img helpers live with the module_utils tests; this file adds what the module tests need.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils" / "datamover"))
from qemu import convert_to_vhdx, pattern

MIB = 1 << 20
pseudo_random = pattern  # incompressible, reproducible bytes


def text_like(seed: str, length: int) -> bytes:
    """Compressible bytes that still differ per seed."""
    line = f"{seed} lorem ipsum dolor sit amet, consectetur adipiscing elit {hashlib.md5(seed.encode()).hexdigest()}\n"
    return (line.encode() * (length // len(line) + 1))[:length]


def make_raw(path: Path, size: int, writes: Mapping[int, bytes]) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
        for offset, data in writes.items():
            handle.seek(offset)
            handle.write(data)
    return path


def make_vhdx(path: Path, size: int, writes: Mapping[int, bytes], block_size: str = "1M") -> Path:
    """A dynamic VHDX of ``size`` virtual bytes holding ``writes``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = make_raw(path.with_suffix(".src.raw"), size, writes)
    convert_to_vhdx(raw, path, subformat="dynamic", block_size=block_size)
    raw.unlink()
    return path


def same_content(first: Path, second: Path) -> bool:
    """True when ``qemu-img compare`` finds the two images' guest-visible content identical."""
    result = subprocess.run(
        ["qemu-img", "compare", str(first), str(second)], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"qemu-img compare failed: {result.stderr.strip()}")
    return result.returncode == 0


def tree_state(root: Path) -> dict:
    """Every file under root with its size and mtime: equal before and after means nothing was written."""
    if not root.exists():
        return {}
    files = sorted(p for p in root.rglob("*") if p.is_file())  # directories: a transient lock file touches them
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}
