"""Action plugin for backup.hyperv.report: write one HTML page with the preflight of every proxy and the
backup job's per-VM results, on the controller.

It needs no connection (like core ``debug``). The page is compared with the file already there under the
same generation time (plugin_utils/report_html.py writes it into the page), so a run that would only change
the time changes nothing; check mode writes nothing and says whether it would; diff mode shows both texts.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils.report import build_report
from ansible_collections.backup.hyperv.plugins.plugin_utils.report_html import (
    backup_outcome,
    generated_at_of,
    render_html,
)

REPORT_SPEC: dict[str, dict[str, Any]] = {
    "dest": {"type": "path", "required": True},
    "preflight": {"type": "list", "elements": "dict", "default": []},
    "backups": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "vm": {"type": "str", "required": True},
            "proxy": {"type": "str"},
            "restore_point": {"type": "str"},
            "stats": {"type": "dict", "default": {}},
            "incremental": {"type": "dict", "default": {}},
            "consistency": {"type": "str", "choices": ["application", "crash"]},
            "consistency_msg": {"type": "str"},
            "failed": {"type": "bool", "default": False},
            "msg": {"type": "str"},
        },
    },
}


class PreflightResultError(ValueError):
    """A preflight entry that does not say which proxy it is about."""


def split_preflight(results: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """``({proxy: {summary, findings}}, {proxy: why it has no findings})`` from registered preflight results.

    A skipped task (``when`` false for that host) assessed nothing and is left out.
    """
    assessed: dict[str, Any] = {}
    unassessed: dict[str, str] = {}
    for number, result in enumerate(results, start=1):
        if result.get("skipped"):
            continue
        proxy = result.get("proxy")
        if not proxy:
            raise PreflightResultError(
                f"preflight entry {number} names no proxy: give the results registered from backup.hyperv.preflight"
            )
        if "findings" in result and "summary" in result:
            assessed[proxy] = {"summary": result["summary"], "findings": result["findings"]}
        else:
            unassessed[proxy] = str(result.get("msg") or "preflight returned no findings")
    return assessed, unassessed


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def page_to_write(args: Mapping[str, Any], before: str | None) -> str:
    """The page for ``args``; ``before`` itself when it is a page of ours that this run would only re-date."""
    assessed, unassessed = split_preflight(args["preflight"])

    def page(generated_at: str) -> str:
        return render_html(build_report(assessed, generated_at=generated_at), args["backups"], unassessed)

    earlier = generated_at_of(before) if before else None
    if earlier and page(earlier) == before:
        return before
    return page(now())


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write_atomically(path: Path, text: str) -> None:
    """Readers never see half a page: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        _ignored, args = self.validate_argument_spec(argument_spec=REPORT_SPEC)
        result = super().run(tmp, task_vars)
        dest = Path(args["dest"])
        try:
            before = read_text(dest)
            after = page_to_write(args, before)
        except (OSError, UnicodeDecodeError, PreflightResultError) as error:
            return {**result, "failed": True, "changed": False, "msg": f"report cannot be prepared: {error}"}
        changed = after != before
        result.update(
            changed=changed,
            dest=str(dest),
            failed_vms=[row["vm"] for row in args["backups"] if backup_outcome(row) == "failed"],
        )
        if self._task.diff and changed:
            result["diff"] = {
                "before": before or "",
                "after": after,
                "before_header": str(dest),
                "after_header": str(dest),
            }
        if changed and not self._task.check_mode:
            try:
                write_atomically(dest, after)
            except OSError as error:
                return {**result, "failed": True, "msg": f"report cannot be written to {dest}: {error}"}
        return result
