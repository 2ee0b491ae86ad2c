"""Retry a round trip whose connection failed, never one whose script failed.

``run_script`` (``_pwsh.py``) runs every round trip through ``with_connection_retries``; action
plugins that call it wrap their ``run`` in ``reports_connection_retries`` so the task result says
what was retried.

The words: a *connection failure* is an exception from the transport instead of a reply:
``AnsibleConnectionFailure`` (what ``ansible.builtin.winrm`` and ``ansible.builtin.psrp`` raise when
they cannot open the shell or runspace, and on a read timeout) or requests' ``ConnectionError``
(which both plugins let through unwrapped when a connection drops while a command runs). A reply,
whatever its rc, is never retried: the script ran and said how it went. An *attempt* is one try of
one round trip; its *stage* is ``connect`` (opening the shell or runspace: nothing of the script has
reached the host) or ``run`` (the command was sent: the host may have started it).

The policy, and why:

* A failure in the ``connect`` stage is retried for every script: nothing ran.
* A failure in the ``run`` stage is retried only for the scripts in ``RESEND_SAFE``, which may run
  twice with the same outcome. The others change the host and are not blindly repeated:
  ``*_apply`` carries steps planned from an earlier read, and after a partial run the right move
  is a new read (re-running the task does that, and applies only what is left), not the old plan
  again (``vss_provider_apply`` would run a vendor installer a second time);
  ``shadow_copy_create`` would leave a second persistent snapshot set behind and
  ``shadow_copy_import`` fails on a set already imported; ``change_tracking_checkpoint`` would leave a
  second recovery checkpoint per VM, and ``change_tracking_reference`` would find the checkpoint already
  converted and lose the new reference point's RCT ids; ``data_mover_run`` (the in-shell runner the
  action no longer sends) may still be running on the proxy (WinRS keeps a command running after its
  client's connection drops). ``data_mover_start`` is safe to send again because the controller chose
  the job's id: a re-sent start finds the job's task and starts no second one (``data_mover_job.py``).
* Rejected credentials are not transient: each attempt would be one more failed logon towards the
  account lockout threshold, so they fail at once as before.
* Before each retry the connection is reset (``Connection.reset``): pywinrm opens a new shell,
  pypsrp a new runspace pool (after a failed open it keeps the unopened pool, which would fail
  every later command). A WinRS shell abandoned this way lives on the host until its IdleTimeout
  and counts towards MaxShellsPerUser (30 by default; [MS-WSMV] 2.2.4.42 WinrsType,
  https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/7ffb4acd-cf01-4fbe-9e48-7746f5001957),
  which a bounded number of retries keeps small.
* Backoff: ``CONNECTION_RETRIES`` retries after ``RETRY_DELAY_SECONDS``, doubling each time, each
  delay drawn between half and all of that (jitter: the tasks of many forks that lost the same
  host do not come back in step). Windows itself answers a full quota with "Retry later"
  ([MS-WSMV] 3.1.4.5.2.1 wsman:QuotaLimit,
  https://learn.microsoft.com/openspecs/windows_protocols/ms-wsmv/77425799-79f6-4a9a-b164-3873e742d921).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

try:
    from requests.exceptions import ConnectionError as _DroppedConnection
except ImportError:  # neither pywinrm nor pypsrp installed: only the plugins' own failures remain
    _DroppedConnection = AnsibleConnectionFailure

CONNECTION_RETRIES = 3  # retries after the first attempt: 4 attempts in all
RETRY_DELAY_SECONDS = 1.0  # before the first retry; doubles for each next one (about 7 s at most in all)

# Scripts that may run twice with the same outcome: the reads change nothing, the releases skip what
# is already gone (shadow_copy_release.ps1, change_tracking_release.ps1, data_mover_poll.ps1 with
# Release), and data_mover_start.ps1 starts a job only once per id. Why the
# others are not here: the module docstring.
RESEND_SAFE = frozenset(
    {
        "change_tracking_release",
        "data_mover_poll",
        "data_mover_start",
        "host_facts",
        "proxy_components_read",
        "shadow_copy_read",
        "shadow_copy_release",
        "vm_restore_read",
        "vss_provider_read",
        "windows_feature_read",
    }
)

CONNECT, RUN = "connect", "run"
BATCH_SEPARATOR = "+"  # a batch of scripts in one round trip (_pwsh.run_scripts) is named by their names joined
CONNECTION_ERRORS = (AnsibleConnectionFailure, _DroppedConnection)
# How ansible.builtin.winrm and ansible.builtin.psrp say the credentials were refused, and a TLS
# certificate the controller does not trust: retrying changes neither.
_NOT_TRANSIENT = ("credentials were rejected", "failed to authenticate", "certificate_verify_failed")
_RECORD = "_backup_hyperv_connection_retries"  # attribute of the action holding this run's retries
_ERROR_LENGTH = 400

T = TypeVar("T")
display = Display()
sleep = time.sleep  # module-level so tests replace it


@dataclass(frozen=True)
class ConnectionRetry:
    """One failed attempt: which script, the error, the attempt's number and stage."""

    script: str
    error: str
    attempt: int
    stage: str

    def to_result(self) -> dict[str, Any]:
        return asdict(self)


class ConnectionFailed(AnsibleConnectionFailure):
    """A round trip that lost its connection and is not retried (any more): the host is unreachable. ``stage``: the
    last attempt's (``run``: the script may have run on the host)."""

    def __init__(self, message: str, retries: list[ConnectionRetry], stage: str = CONNECT) -> None:
        super().__init__(message)
        self.retries = retries
        self.stage = stage

    @property
    def result_contribution(self) -> dict[str, Any]:
        return {**super().result_contribution, "connection_retries": [retry.to_result() for retry in self.retries]}

    def as_failure(self) -> dict[str, Any]:
        """The result of a task that is a step of a job with releases after it (a volume group's snapshot, import,
        data mover job): failed, not unreachable. Ansible runs neither a block's ``rescue`` nor its ``always`` for
        an unreachable host and drops the host from the play, so the releases of what the group's earlier steps
        created would not run and the proxy's other groups would not be backed up."""
        return {"failed": True, "msg": self.message, "connection_retries": [r.to_result() for r in self.retries]}


def with_connection_retries(action: ActionBase, script: str, round_trip: Callable[[], T]) -> T:
    """``round_trip()``, tried again after a transient connection failure as the policy above allows."""
    connection = action._connection
    retries: list[ConnectionRetry] = []
    for attempt in range(1, CONNECTION_RETRIES + 2):
        stage = CONNECT
        try:
            if retries:
                _reset(connection)
            _ensure_connected(connection)
            stage = RUN
            return round_trip()
        except Exception as exc:  # the tuple is checked below: pylint cannot infer requests' optional class
            if not isinstance(exc, CONNECTION_ERRORS):
                raise
            failure = ConnectionRetry(script, _describe(exc), attempt, stage)
            if not _transient(exc):
                raise
            # from None: the message names the last error already; Ansible would append the cause again.
            if stage == RUN and not resend_safe(script):
                raise ConnectionFailed(_not_resent_message(failure), retries, stage) from None
            if attempt > CONNECTION_RETRIES:
                raise ConnectionFailed(_exhausted_message(failure), retries, stage) from None
            retries.append(failure)
            _record(action, failure)
            delay = backoff_delay(attempt)
            display.vvv(f"{script}.ps1: connection failed ({failure.error}); retry {attempt} in {delay:.1f} s")
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def resend_safe(script: str) -> bool:
    """Whether a round trip may be sent again: a batch only when every script of it may."""
    return all(name in RESEND_SAFE for name in script.split(BATCH_SEPARATOR))


def backoff_delay(retry: int, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1-based): doubling, with jitter down to half."""
    return RETRY_DELAY_SECONDS * 2 ** (retry - 1) * (0.5 + 0.5 * draw())


def _reset(connection: Any) -> None:
    """A fresh shell or runspace: the one the failure left may be gone or half open."""
    reset = getattr(connection, "reset", None)
    if reset is not None:
        reset()


def _ensure_connected(connection: Any) -> None:
    """Open the connection here, so that a failure to open it counts as the ``connect`` stage."""
    if not getattr(connection, "connected", True):
        connection._connect()


def _transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return not any(marker in text for marker in _NOT_TRANSIENT)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= _ERROR_LENGTH else text[: _ERROR_LENGTH - 3] + "..."


def _exhausted_message(last: ConnectionRetry) -> str:
    return (
        f"{last.script}.ps1: the connection to the host failed {last.attempt} times "
        f"({CONNECTION_RETRIES} retries with backoff); last error: {last.error}. Check that the WinRM service "
        "runs on the host (Get-Service WinRM), that the network and firewall let the WinRM port through, and "
        "that the host's WinRM quotas are not used up (MaxConcurrentOperationsPerUser, MaxShellsPerUser: "
        "winrm get winrm/config)."
    )


def _not_resent_message(failure: ConnectionRetry) -> str:
    return (
        f"{failure.script}.ps1: the connection dropped after the script was sent ({failure.error}). It may have "
        "run on the host, and it is not sent again because running it twice is not harmless. Re-run the task once "
        "the host answers: install tasks read the host again and apply only what is left; before a new backup, "
        "list the repository's restore points (the repository lock keeps two runs from overlapping)."
    )


def _record(action: ActionBase, retry: ConnectionRetry) -> None:
    if getattr(action, _RECORD, None) is None:
        setattr(action, _RECORD, [])
    getattr(action, _RECORD).append(retry)


def reports_connection_retries(run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Decorate an action's ``run``: its result lists this run's connection retries, with a warning."""

    @functools.wraps(run)
    def wrapper(self: ActionBase, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        setattr(self, _RECORD, [])  # a task retried with until: reuses the action; count each run alone
        result = run(self, tmp, task_vars)
        retries: list[ConnectionRetry] = getattr(self, _RECORD)
        if retries:
            result["connection_retries"] = [retry.to_result() for retry in retries]
            result.setdefault("warnings", []).append(_warning(retries))
        return result

    return wrapper


def _warning(retries: list[ConnectionRetry]) -> str:
    scripts = ", ".join(sorted({f"{retry.script}.ps1" for retry in retries}))
    return (
        f"the connection to the host failed {len(retries)} time(s) and was retried ({scripts}); last error: "
        f"{retries[-1].error}. The task went on; if this recurs, check the network and the host's WinRM service."
    )
