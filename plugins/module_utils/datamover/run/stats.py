"""Counters of one data mover run, returned to the caller as a dict."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class Stats:
    bytes_read: int = 0  # bytes read from the sources
    bytes_read_baseline: int = 0  # repository bytes (stored blobs) read to fill partial chunks (run/partial.py)
    bytes_logical: int = 0  # virtual size of the disks plus size of the files
    bytes_stored: int = 0  # bytes newly written into packs (after compression and encryption)
    bytes_deduplicated: int = 0  # data bytes whose chunk was already stored (or reused from the baseline)
    bytes_zero: int = 0  # bytes of zero or unallocated chunks (never stored)
    chunks_new: int = 0
    chunks_reused: int = 0
    duration: float = 0.0
    cpu_seconds: float = 0.0
    _wall: float = field(default_factory=time.monotonic, repr=False)
    _cpu: float = field(default_factory=time.process_time, repr=False)

    def stop(self) -> Stats:
        self.duration = round(time.monotonic() - self._wall, 6)
        self.cpu_seconds = round(time.process_time() - self._cpu, 6)
        return self

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}
