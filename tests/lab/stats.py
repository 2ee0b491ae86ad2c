"""`lab stats [--reset]`: what the collection cost each emulated host since the lab started (or the last reset).

Per host: `http_requests` (records of the request log), `commands` (round trips: records that ran a command,
`handled_by` set), and the lab's counts of the host's events (`lab.windows.hoststate.count`, kept in
`stats/<host>.json`, not in the host's state): `snapshot_sets` created, `imports`, `checkpoints` (recovery
checkpoints), `reference_points`, `data_mover_jobs` (jobs started), `data_mover_servers` (job servers started),
`data_mover_server_jobs` (the jobs a server took, not a task of their own) and `vss_in_progress` (creations
refused while another requester's set was being created, `lab.handlers.shadow_copy_creation`). `--reset`
prints, then remembers the current numbers in `stats-baseline.json` so the next `stats` counts from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.runtime import LOG_FILE
from lab.windows.hoststate import read_counters
from lab.wire.requestlog import read_log

BASELINE_FILE = "stats-baseline.json"
COUNTERS = (
    *("snapshot_sets", "imports", "checkpoints", "reference_points", "data_mover_jobs", "data_mover_servers"),
    *("data_mover_server_jobs", "vss_in_progress"),
)


def _totals(state_dir: Path) -> dict[str, dict[str, int]]:
    hosts = sorted(p.name for p in (state_dir / "hosts").iterdir()) if (state_dir / "hosts").is_dir() else []
    totals = {host: dict.fromkeys(("http_requests", "commands", *COUNTERS), 0) for host in hosts}
    for record in read_log(state_dir / LOG_FILE):
        counted = totals.setdefault(record["host"], dict.fromkeys(("http_requests", "commands", *COUNTERS), 0))
        counted["http_requests"] += 1
        counted["commands"] += 1 if record.get("handled_by") else 0
    for host in hosts:
        counters = read_counters(state_dir / "hosts" / host / "state")
        totals[host].update({name: counters.get(name, 0) for name in COUNTERS})
    return totals


def stats(state_dir: Path, reset: bool = False) -> dict[str, dict[str, int]]:
    totals = _totals(state_dir)
    baseline_file = state_dir / BASELINE_FILE
    baseline: dict[str, Any] = json.loads(baseline_file.read_text()) if baseline_file.is_file() else {}
    since = {
        host: {key: value - baseline.get(host, {}).get(key, 0) for key, value in counted.items()}
        for host, counted in totals.items()
    }
    if reset:
        baseline_file.write_text(json.dumps(totals))
    return since
