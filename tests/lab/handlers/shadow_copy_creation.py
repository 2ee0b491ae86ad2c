"""VSS's one shadow copy set creation at a time on a host, for `shadow_copy_create.ps1`.

From StartSnapshotSet until DoSnapshotSet returns, VSS creates no other set on the host: another requester's
StartSnapshotSet fails with VSS_E_SNAPSHOT_SET_IN_PROGRESS (0x80042316), and Microsoft's answer is to wait and try
again ("State Transitions in Shadow Copy Providers",
https://learn.microsoft.com/windows/win32/vss/state-transitions-in-shadow-copy-providers). The lab keeps a lock per
host for the creation (every emulated host is this one process). What the script does about it, its text decides
(`lab.windows.diskshadow`): a script that waits on its mutex queues behind another run of itself, one that tries
again waits for the other; one that does neither is refused, as on Windows.

Another requester (a backup application, Windows Server Backup, a storage snapshot schedule) is the host state's
`vss_other_requester`: how many of the script's attempts it refuses; each refused attempt is counted in `lab stats`
(`vss_in_progress`). The lab does not sleep the script's waits.
DiskShadow's words for the failure are not documented; the lab's (`IN_PROGRESS`) carry the HRESULT and its name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lab.handlers import ScriptCall, ScriptFailure
from lab.windows import diskshadow
from lab.windows.hoststate import HostState, count

SCRIPT = "shadow_copy_create"
IN_PROGRESS = (
    "The creation of a shadow copy is already in progress; only one creation can be in progress at a time "
    "(VSS_E_SNAPSHOT_SET_IN_PROGRESS, 0x80042316)."
)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _in_progress() -> ScriptFailure:
    return ScriptFailure(f"diskshadow exited with 1 while creating the shadow copy set: {IN_PROGRESS}")


def _host_lock(call: ScriptCall) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(call.state_dir), threading.Lock())


@contextmanager
def one_creation_at_a_time(call: ScriptCall) -> Iterator[None]:
    """Hold the host's creation for the body: queued when the script queues or tries again, else refused while
    another run holds it."""
    lock = _host_lock(call)
    attempts = diskshadow.creation_attempts(SCRIPT, call.params.get("InProgressTimeoutSeconds"))
    if not lock.acquire(blocking=diskshadow.script_queues_creation(SCRIPT) or attempts > 1):
        raise _in_progress()
    try:
        _outlast_other_requester(call, attempts)
        yield
    finally:
        lock.release()


def _outlast_other_requester(call: ScriptCall, attempts: int) -> None:
    """The script's `attempts` against another requester's creation: through when it ends within them, else the
    script's failure (the plain DiskShadow failure when the script does not try again)."""
    with HostState(call.state_dir).edit() as state:
        busy = int(state.get("vss_other_requester") or 0)
        refused = min(busy, attempts)
        state["vss_other_requester"] = busy - refused
    if refused:
        count(call.state_dir, "vss_in_progress", refused)
    if refused < attempts:
        return
    if attempts == 1:
        raise _in_progress()
    timeout = call.params.get("InProgressTimeoutSeconds")
    raise ScriptFailure(
        f"another requester kept creating a shadow copy set on this host for {timeout} s "
        "(VSS_E_SNAPSHOT_SET_IN_PROGRESS: VSS creates one set at a time). A backup application, Windows Server "
        "Backup or a storage snapshot schedule is running on this host: schedule it apart from this job. "
        f"{_in_progress()}"
    )
