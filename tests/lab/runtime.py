"""The running lab: one HostServer per estate host, until SIGTERM.

`serve()` is what `python -m lab serve` (started in the background by `lab up`) runs. Once
every address is bound it writes `lab.json` in the state directory (pid, and per host its
address, port and connection), which is how `lab up` learns the ports and knows the lab
is ready; on SIGTERM or SIGINT it stops the servers and closes their sockets.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

from lab.context import HostContext, LabConfig
from lab.handlers.builtin import default_registry
from lab.handlers.data_mover_task import end_servers as end_job_servers
from lab.wire.requestlog import RequestLog
from lab.wire.server import HostServer

STATUS_FILE = "lab.json"
LOG_FILE = "requests.jsonl"


def write_json_atomically(path: Path, document: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def start_servers(config: LabConfig, handler_files: tuple[Path, ...] = ()) -> list[HostServer]:
    """Bind and start a server per host; raises OSError when an address cannot be bound."""
    registry = default_registry(handler_files)
    log = RequestLog(config.state_dir / LOG_FILE)
    servers: list[HostServer] = []
    try:
        for host in config.estate.hosts:
            context = HostContext(config, host, registry)
            context.prepare()
            servers.append(HostServer(context, config.port, log))
    except OSError:
        for server in servers:
            server.server_close()
        raise
    for server in servers:
        server.start()
    return servers


def stop_servers(servers: list[HostServer]) -> None:
    end_job_servers()  # the data mover's job servers: tasks end with the hosts that run them
    stoppers = [threading.Thread(target=server.shutdown) for server in servers]  # all at once
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    for server in servers:
        server.server_close()
    if servers:
        servers[0].log.close()


def status_document(servers: list[HostServer]) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "hosts": {
            server.context.host.name: {
                "address": server.context.host.address,
                "port": server.port,
                "connection": server.context.host.connection,
            }
            for server in servers
        },
    }


def serve(config: LabConfig, handler_files: tuple[Path, ...] = (), ready_fd: int | None = None) -> None:
    """Run the lab in this process until SIGTERM/SIGINT; tell `ready_fd` when every port is bound."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    servers = start_servers(config, handler_files)
    try:
        document = {**status_document(servers), "estate": str(config.estate_path) if config.estate_path else None}
        write_json_atomically(config.state_dir / STATUS_FILE, document)
        if ready_fd is not None:
            os.write(ready_fd, json.dumps(document).encode() + b"\n")
            os.close(ready_fd)
        stop.wait()
    finally:
        stop_servers(servers)
