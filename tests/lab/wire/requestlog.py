"""The request log: one JSON object per line for every HTTP request the lab answers.

Fields: `time` (UTC, ISO 8601), `host` (estate name), `address`, `port`, `transport`
(`winrs`, `psrp`, or `-` when the request never reached a shell), `operation` (Create,
Command, Send, Receive, Signal, Delete, or `auth`), `status` (HTTP status), and what the
operation touched: `shell`, `command`, `handled_by` (which emulation answered a command:
`collection:<script>`, `ansible:<exec script>`, `ansible-module:<module>`, `cmd`,
`powershell`, `unrecognised`), `exit_code`, `fault`, and `ms` (time the lab spent answering).
A round trip of the collection's runner is one `Command` (or PSRP pipeline) whose
`handled_by` is `collection:<name>`; tests count those per host.
"""

from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path
from typing import Any


class RequestLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stream = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the lab

    def write(self, **fields: Any) -> None:
        record = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"), **fields}
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._stream.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """All records of a request log (for tests and tools)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]
