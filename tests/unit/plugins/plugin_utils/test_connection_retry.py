"""Connection retries of ``run_script``: what is retried, how often, how long it waits, what it says.

A FlakyConnection stands in for ansible.builtin.winrm/psrp: ``_connect`` and ``exec_command`` raise
the given errors in turn (as the plugins do: AnsibleConnectionFailure when the shell or runspace
cannot be opened, requests' ConnectionError when a command's connection drops), then answer.
``sleep`` is replaced, so no test waits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
import requests
from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.action import ActionBase
from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.backup.hyperv.plugins.plugin_utils import _connection_retry
from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import (
    CONNECTION_RETRIES,
    RESEND_SAFE,
    RETRY_DELAY_SECONDS,
    ConnectionFailed,
    backoff_delay,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, load_script, run_script

DOCUMENT = {"ok": True}
REFUSED = AnsibleConnectionFailure("basic: ('Connection aborted.', ConnectionResetError(104, 'reset by peer'))")
DROPPED = requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))")


class FlakyConnection:
    """Fails to connect, then fails commands, as told; then answers every command with ``reply``."""

    become = None
    allow_executable = False
    transport = "ansible.builtin.psrp"

    def __init__(
        self, connect_errors: Sequence[Exception] = (), run_errors: Sequence[Exception] = (), reply=None
    ) -> None:
        self._shell = ShellModule()
        self._connected = False
        self.connect_errors = list(connect_errors)
        self.run_errors = list(run_errors)
        self.reply = reply or (0, json.dumps(DOCUMENT), "")
        self.events: list[str] = []

    @property
    def connected(self) -> bool:
        return self._connected

    def get_option(self, name: str) -> Any:
        raise KeyError(name)

    def _connect(self) -> None:
        self.events.append("connect")
        if self.connect_errors:
            raise self.connect_errors.pop(0)
        self._connected = True

    def reset(self) -> None:
        self.events.append("reset")
        self._connected = False

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        self.events.append("exec")
        if self.run_errors:
            raise self.run_errors.pop(0)
        rc, stdout, stderr = self.reply
        return rc, stdout.encode(), stderr.encode()


class Probe(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {}


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(_connection_retry, "sleep", waited.append)
    return waited


def action_on(connection: FlakyConnection) -> ActionBase:
    return Probe(Task(), connection, PlayContext(), loader=None, templar=None)


def test_a_refused_connection_is_retried_with_backoff_then_the_reply_returned(pauses):
    connection = FlakyConnection(connect_errors=[REFUSED, REFUSED])
    assert run_script(action_on(connection), "host_facts", {}) == DOCUMENT
    assert connection.events == ["connect", "reset", "connect", "reset", "connect", "exec"]
    assert len(pauses) == 2
    assert RETRY_DELAY_SECONDS / 2 <= pauses[0] <= RETRY_DELAY_SECONDS
    assert RETRY_DELAY_SECONDS <= pauses[1] <= 2 * RETRY_DELAY_SECONDS


def test_retries_are_recorded_on_the_action_with_script_error_attempt_and_stage(pauses):
    action = action_on(FlakyConnection(connect_errors=[REFUSED], run_errors=[DROPPED]))
    run_script(action, "host_facts", {})
    recorded = [retry.to_result() for retry in action._backup_hyperv_connection_retries]
    assert [(r["script"], r["attempt"], r["stage"]) for r in recorded] == [
        ("host_facts", 1, "connect"),
        ("host_facts", 2, "run"),
    ]
    assert recorded[0]["error"].startswith("AnsibleConnectionFailure: basic:")
    assert recorded[1]["error"].startswith("ConnectionError:")


def test_a_connect_failure_is_retried_even_for_a_script_that_changes_the_host(pauses):
    connection = FlakyConnection(connect_errors=[REFUSED])
    assert run_script(action_on(connection), "data_mover_run", {}) == DOCUMENT
    assert connection.events.count("exec") == 1


def test_a_drop_after_sending_a_script_that_changes_the_host_is_not_sent_again(pauses):
    connection = FlakyConnection(run_errors=[DROPPED])
    with pytest.raises(ConnectionFailed) as failure:
        run_script(action_on(connection), "windows_feature_apply", {"Steps": []})
    assert connection.events.count("exec") == 1 and pauses == []
    assert "may have run on the host" in str(failure.value) and "read the host again" in str(failure.value)
    assert isinstance(failure.value, AnsibleConnectionFailure)  # still an unreachable host to Ansible


def test_a_script_failure_is_a_reply_and_never_retried(pauses):
    failed = json.dumps({"failed": True, "name": "host_facts", "msg": "Get-VM: access denied"})
    connection = FlakyConnection(reply=(1, failed, ""))
    with pytest.raises(ScriptError, match="access denied"):
        run_script(action_on(connection), "host_facts", {})
    assert connection.events == ["connect", "exec"] and pauses == []


def test_exhausted_retries_say_how_many_the_last_error_and_what_to_check(pauses):
    connection = FlakyConnection(run_errors=[DROPPED] * (CONNECTION_RETRIES + 1))
    with pytest.raises(ConnectionFailed) as failure:
        run_script(action_on(connection), "host_facts", {})
    message = str(failure.value)
    assert f"failed {CONNECTION_RETRIES + 1} times" in message
    assert "last error: ConnectionError:" in message
    assert "WinRM service" in message and "MaxConcurrentOperationsPerUser" in message
    assert connection.events.count("exec") == CONNECTION_RETRIES + 1 and len(pauses) == CONNECTION_RETRIES
    contribution = failure.value.result_contribution
    assert contribution["unreachable"] is True
    assert [r["attempt"] for r in contribution["connection_retries"]] == list(range(1, CONNECTION_RETRIES + 1))


def test_rejected_credentials_fail_at_once(pauses):
    rejected = AnsibleConnectionFailure("basic: the specified credentials were rejected by the server")
    connection = FlakyConnection(connect_errors=[rejected])
    with pytest.raises(AnsibleConnectionFailure) as failure:
        run_script(action_on(connection), "host_facts", {})
    assert failure.value is rejected and connection.events == ["connect"] and pauses == []


def test_backoff_doubles_with_jitter_down_to_half():
    assert [backoff_delay(retry, draw=lambda: 1.0) for retry in (1, 2, 3)] == [
        RETRY_DELAY_SECONDS,
        2 * RETRY_DELAY_SECONDS,
        4 * RETRY_DELAY_SECONDS,
    ]
    assert backoff_delay(3, draw=lambda: 0.0) == 2 * RETRY_DELAY_SECONDS


@pytest.mark.parametrize("name", sorted(RESEND_SAFE))
def test_every_script_declared_safe_to_resend_exists(name):
    assert load_script(name)
