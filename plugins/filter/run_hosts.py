"""Hosts a playbook names by variable (restore_proxy, restore_host) that the run cannot reach.

A play whose ``hosts:`` pattern matches no host of the run is skipped with only a warning ("Could not match
supplied host pattern"), so a misspelt or case-changed name, or one the limit leaves out (AWX's Limit), ends the job
green having done nothing. The playbooks check first, with this filter, and fail naming the variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def run_host_problems(named: Mapping[str, Any], inventory: Iterable[str], run: Iterable[str]) -> list[str]:
    """One message per ``{variable: host}`` whose host is not in ``inventory`` (with the host of the same name in
    another case, if any) or not among the ``run``'s hosts (the limit leaves it out)."""
    hosts, in_run = list(inventory), set(run)
    problems = []
    for variable, host in named.items():
        name = str(host)
        if name not in hosts:
            alike = [known for known in hosts if known.casefold() == name.casefold()]
            hint = f" (inventory names are exact: did you mean {alike[0]}?)" if alike else ""
            problems.append(f"{variable} {name!r} is not a host of the inventory{hint}.")
        elif name not in in_run:
            problems.append(f"{variable} {name!r} is left out of this run by the limit: add it to --limit.")
    return problems


class FilterModule:
    """Checks of the hosts a playbook names by variable."""

    def filters(self) -> dict[str, Any]:
        return {"run_host_problems": run_host_problems}
