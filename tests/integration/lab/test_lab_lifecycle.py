"""`lab up` / `lab status` / `lab down`: a lab of its own per test, nothing left behind."""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from lab.control import process_running
from lab_testkit import DATA, accepts, run_lab


@pytest.fixture
def state_dir(tmp_path):
    yield tmp_path / "state"
    run_lab("down", "--state-dir", str(tmp_path / "state"), check=False)  # whatever a failed test left


def test_up_status_down_leave_no_process_or_port(state_dir):
    up = json.loads(
        run_lab("up", str(DATA / "estate.yml"), "--state-dir", str(state_dir), "--port", "0", "--auth", "ntlm").stdout
    )
    hosts = yaml.safe_load((state_dir / "inventory.yml").read_text())["all"]["children"]["windows"]["hosts"]
    assert hosts["hv1"]["ansible_winrm_transport"] == "ntlm" and hosts["px1"]["ansible_psrp_auth"] == "negotiate"
    endpoints = [(h["address"], h["port"]) for h in up["hosts"].values()]
    assert all(accepts(*endpoint) for endpoint in endpoints)
    status = run_lab("status", "--state-dir", str(state_dir))
    assert json.loads(status.stdout)["pid"] == up["pid"]

    again = run_lab("up", str(DATA / "estate.yml"), "--state-dir", str(state_dir), "--port", "0", check=False)
    assert again.returncode == 1 and "already running" in again.stderr

    assert run_lab("down", "--state-dir", str(state_dir)).stdout.strip() == "stopped"
    assert not process_running(up["pid"])
    assert not any(accepts(*endpoint) for endpoint in endpoints)
    stopped = run_lab("status", "--state-dir", str(state_dir), check=False)
    assert stopped.returncode == 3 and json.loads(stopped.stdout)["running"] is False
    assert run_lab("down", "--state-dir", str(state_dir)).stdout.strip() == "not running"


def test_a_port_in_use_fails_up_cleanly(state_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.22", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_lab(
            "up", str(DATA / "estate.yml"), "--state-dir", str(state_dir), "--port", str(port), check=False
        )
    assert result.returncode == 1 and "Address already in use" in result.stderr
    assert json.loads(run_lab("status", "--state-dir", str(state_dir), check=False).stdout)["running"] is False
    assert not accepts("127.0.0.21", port)


def test_an_estate_with_a_remote_address_is_refused(state_dir, tmp_path):
    estate = tmp_path / "estate.yml"
    estate.write_text("hosts:\n  - {name: hv9, address: 10.0.0.9, credentials: {username: a, password: b}}\n")
    result = run_lab("up", str(estate), "--state-dir", str(state_dir), "--port", "0", check=False)
    assert result.returncode == 1 and "not a loopback address" in result.stderr
