"""Progress shown on a terminal: a one-line bar with percent, bytes, bytes/s and ETA."""

from __future__ import annotations

import threading
import time
from typing import Callable, TextIO


class ProgressBar:
    """``progress(done, total)`` callback drawing one line on a stream: percent, bytes, bytes/s and ETA."""

    def __init__(self, stream: TextIO, interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream, self._interval, self._clock = stream, interval, clock
        self._start = clock()
        self._last = -interval
        self._lock = threading.Lock()  # the engine may report from worker threads

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last < self._interval and done < total:
                return
            self._last = now
            self._stream.write("\r" + self.render(done, total, now - self._start))
            self._stream.flush()

    def finish(self) -> None:
        self._stream.write("\n")
        self._stream.flush()

    @staticmethod
    def render(done: int, total: int, elapsed: float, width: int = 24) -> str:
        fraction = min(1.0, done / total) if total > 0 else 0.0
        speed = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / speed if speed > 0 else None
        filled = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        eta_text = "--:--" if eta is None else "{}:{:02d}".format(*divmod(int(eta), 60))
        amounts = f"{human_bytes(done)}/{human_bytes(total)} {human_bytes(speed)}/s"
        return f"[{filled}] {fraction * 100:5.1f}% {amounts} ETA {eta_text}"


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} TiB"
