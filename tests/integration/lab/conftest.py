"""Fixtures for the lab's tests: one lab per test session, started and stopped with its CLI.

`lab` runs `python -m lab up` (ephemeral ports, a state directory under pytest's tmp dir) with
the test scripts and handlers of `data/`, and `python -m lab down` at the end, then checks
that neither the process nor any port is left behind.
"""

from __future__ import annotations

import json

import pytest
from lab_testkit import DATA, RunningLab, accepts, run_lab

# isort: split
from lab.control import process_running  # importable once lab_testkit has put tests/ on sys.path


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory):
    state_dir = tmp_path_factory.mktemp("lab-state")
    result = run_lab(
        "up",
        str(DATA / "estate.yml"),
        "--state-dir",
        str(state_dir),
        "--port",
        "0",
        "--scripts-dir",
        str(DATA),
        "--handlers",
        str(DATA / "handlers.py"),
    )
    status = json.loads(result.stdout)
    running = RunningLab(state_dir, status)
    yield running
    run_lab("down", "--state-dir", str(state_dir))
    assert not process_running(status["pid"])
    assert not any(accepts(entry["address"], entry["port"]) for entry in status["hosts"].values())
