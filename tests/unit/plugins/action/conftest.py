"""Fixtures for action plugin tests: a real ActionModule on a fake connection that replays replies.

``make_action(name, replies=[...])`` builds ``plugins/action/<name>.py``'s ActionModule with a
FakeConnection standing in for ``ansible.builtin.psrp``/``winrm``: every ``exec_command`` is
recorded as a Call (cmd, in_data, sudoable) and answered with the next reply (rc, stdout, stderr).
A round trip beyond the given replies fails the test, so tests can count round trips exactly.

``recorded(file)`` loads a reply recorded in ``tests/unit/fixtures/``: ``{"_source": ...,
"rc": 0, "stdout": <str, or a JSON value printed as the bootstrap prints it>, "stderr": ""}``.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.action import ActionBase
from ansible.plugins.shell.powershell import ShellModule

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

Reply = tuple[int, str, str]
ReplyLike = Union[Reply, Mapping[str, Any]]


@dataclass(frozen=True)
class Call:
    """One exec_command the action made."""

    cmd: str
    in_data: bytes | None
    sudoable: bool

    def request(self) -> dict[str, Any]:
        """The stdin request as JSON (the collection's bootstrap reads one JSON line)."""
        assert self.in_data is not None, "no stdin was sent"
        return json.loads(self.in_data)


class FakeConnection:
    """Records exec_command calls and answers each with the next canned reply."""

    become = None
    allow_executable = False

    def __init__(self, replies: Sequence[ReplyLike], transport: str) -> None:
        self._shell = ShellModule()
        self._replies = [as_reply(reply) for reply in replies]
        self.transport = transport
        self.calls: list[Call] = []

    def get_option(self, name: str) -> Any:
        raise KeyError(name)  # ActionBase falls back to the play context

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        self.calls.append(Call(cmd, in_data, sudoable))
        if len(self.calls) > len(self._replies):
            raise AssertionError(f"unexpected round trip #{len(self.calls)}: {cmd[:80]}")
        rc, stdout, stderr = self._replies[len(self.calls) - 1]
        return rc, stdout.encode("utf-8"), stderr.encode("utf-8")


def as_reply(reply: ReplyLike) -> Reply:
    """Accept (rc, stdout, stderr) or a recorded mapping; JSON stdout is printed as one compact line."""
    if isinstance(reply, tuple):
        return reply
    stdout = reply.get("stdout", "")
    if not isinstance(stdout, str):
        stdout = json.dumps(stdout, ensure_ascii=True, separators=(",", ":")) + "\r\n"
    return int(reply.get("rc", 0)), stdout, str(reply.get("stderr", ""))


def load_fixture(file: str) -> dict[str, Any]:
    return json.loads((FIXTURES / file).read_text(encoding="utf-8"))


@pytest.fixture
def recorded() -> Callable[[str], dict[str, Any]]:
    return load_fixture


@pytest.fixture
def make_action() -> Callable[..., tuple[ActionBase, list[Call]]]:
    def factory(
        name: str,
        replies: Sequence[ReplyLike] = (),
        args: Mapping[str, Any] | None = None,
        check_mode: bool = False,
        transport: str = "ansible.builtin.psrp",
    ) -> tuple[ActionBase, list[Call]]:
        module = importlib.import_module(f"ansible_collections.backup.hyperv.plugins.action.{name}")
        task = Task()
        task.action = f"backup.hyperv.{name}"
        task.args = dict(args or {})
        task.check_mode = check_mode
        connection = FakeConnection(replies, transport)
        action = module.ActionModule(task, connection, PlayContext(), loader=None, templar=None)
        action._load_name = task.action  # set by the plugin loader in a real run
        return action, connection.calls

    return factory
