"""Output a command has produced and the client has not received yet, for WinRS and PSRP Receive."""

from __future__ import annotations

import threading

from lab.wire.wsman import Request, operation_timeout

# Receive waits at most this long even when the client allows more: keeps `lab down` prompt.
_MAX_WAIT = 30.0


class StreamBuffer:
    """Output a command has produced and the client has not received yet.

    WinRS streams are bytes and may be cut anywhere (`split=True`); PSRP streams are whole
    PSRP fragments, which a client must receive intact, so they are handed out whole.
    """

    def __init__(self, names: tuple[str, ...], split: bool = True) -> None:
        self.pending: dict[str, list[bytes]] = {name: [] for name in names}
        self.split = split
        self.finished = False  # the command produced all its output
        self.exit_code: int | None = None
        self.ready = threading.Condition()

    def add(self, name: str, data: bytes) -> None:
        if not data:
            return
        with self.ready:
            self.pending[name].append(data)
            self.ready.notify_all()

    def finish(self, exit_code: int | None) -> None:
        with self.ready:
            self.finished = True
            self.exit_code = exit_code
            self.ready.notify_all()

    def _has_data(self) -> bool:
        return any(self.pending.values())

    def _take_stream(self, chunks: list[bytes], budget: int, first: bool) -> bytes:
        taken = bytearray()
        while chunks and budget > 0:
            chunk = chunks[0]
            if len(chunk) <= budget or (not self.split and first and not taken):
                taken += chunks.pop(0)
                budget -= len(chunk)
            elif self.split:
                taken += chunk[:budget]
                chunks[0] = chunk[budget:]
                budget = 0
            else:
                break
        return bytes(taken)

    def take(self, request: Request, wanted: tuple[str, ...]) -> tuple[list[tuple[str, bytes]], bool]:
        """Chunks for one Receive and whether the command is done; faults when nothing came in time."""
        with self.ready:
            if not self.ready.wait_for(
                lambda: self._has_data() or self.finished, min(request.operation_timeout, _MAX_WAIT)
            ):
                raise operation_timeout()
            budget = request.max_stream_bytes
            result = []
            for name in wanted:
                data = self._take_stream(self.pending.get(name, []), budget, first=not result)
                if data:
                    result.append((name, data))
                    budget -= len(data)
            return result, self.finished and not self._has_data()
