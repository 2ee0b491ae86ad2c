"""Action results say when a connection was retried; every action that runs scripts reports it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from ansible_collections.backup.hyperv.plugins.plugin_utils import _connection_retry

ACTIONS = Path(__file__).resolve().parents[4] / "plugins" / "action"
DROPPED = requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))")


class DropsFirst:
    """The fake connection of make_action, whose first ``drops`` commands lose their connection."""

    def __init__(self, inner: Any, drops: int) -> None:
        self._inner = inner
        self._drops = drops
        self.resets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reset(self) -> None:
        self.resets += 1

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        if self._drops:
            self._drops -= 1
            raise DROPPED
        return self._inner.exec_command(cmd, in_data=in_data, sudoable=sudoable)


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(_connection_retry, "sleep", lambda seconds: None)


def test_a_retried_probe_succeeds_and_its_result_lists_the_retry_with_a_warning(make_action, recorded):
    action, calls = make_action("host_facts", replies=[recorded("host_facts_hv1_cluster_node.json")])
    action._connection = DropsFirst(action._connection, drops=1)

    result = action.run(task_vars={"inventory_hostname": "hv1"})

    assert not result.get("failed") and result["ansible_facts"]["hyperv_offhost"]
    assert len(calls) == 1 and action._connection.resets == 1
    (retry,) = result["connection_retries"]
    assert (retry["script"], retry["attempt"], retry["stage"]) == ("host_facts", 1, "run")
    assert "RemoteDisconnected" in retry["error"]
    assert any("failed 1 time(s) and was retried" in warning for warning in result["warnings"])


def test_a_run_without_retries_reports_none_even_after_a_run_that_had_some(make_action, recorded):
    reply = recorded("host_facts_hv1_cluster_node.json")
    action, _calls = make_action("host_facts", replies=[reply, reply])
    action._connection = DropsFirst(action._connection, drops=1)
    assert action.run(task_vars={})["connection_retries"]
    second = action.run(task_vars={})  # `until` runs the same action object again
    assert "connection_retries" not in second and "warnings" not in second


@pytest.mark.parametrize("path", sorted(ACTIONS.glob("*.py")), ids=lambda path: path.stem)
def test_every_action_that_runs_scripts_reports_its_retries(path):
    source = path.read_text(encoding="utf-8")
    if "run_script(" in source or "converge(" in source:
        assert "@reports_connection_retries\n    def run(" in source


def _action_class(stem: str) -> type:
    module = importlib.import_module(f"ansible_collections.backup.hyperv.plugins.action.{stem}")
    return module.ActionModule


def _module_return(stem: str) -> dict[str, Any]:
    module = importlib.import_module(f"ansible_collections.backup.hyperv.plugins.modules.{stem}")
    return yaml.safe_load(module.RETURN)


@pytest.mark.parametrize("stem", sorted(path.stem for path in ACTIONS.glob("*.py")))
def test_an_action_that_reports_retries_documents_them(stem):
    # functools.wraps leaves the decorated run reachable as __wrapped__: that is what "reports" means here.
    reports = hasattr(_action_class(stem).run, "__wrapped__")
    assert reports == ("connection_retries" in _module_return(stem)), stem
