"""One HTML page an admin opens in a browser: the preflight of every proxy and the backup job's per-VM results.

The page is self-contained (inline CSS, no script, no external asset) so it can be mailed or archived as
one file, and every value taken from facts or results goes through ``html.escape``: a UNC path such as
``\\\\fs1\\vms`` or an account such as ``CORP\\PX1$`` shows as written.

Words: the *report* is the preflight document of report.py (``{"generated_at", "status", "proxies"}``);
an *unassessed* proxy is one whose preflight returned no findings (its facts could not be read), shown
with the reason; a *backup row* is one VM's outcome ``{vm, proxy, restore_point, stats, failed, msg}``
with ``stats`` as the data mover returns them (``bytes_read``, ``bytes_stored``, ``bytes_deduplicated``,
``bytes_logical``, ``bytes_zero``, ``duration``).
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any, Iterable, Mapping, Sequence

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.progress import (
    human_bytes,  # the one rule, also the CLI's
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import REQUIREMENTS, worst
from ansible_collections.backup.hyperv.plugins.plugin_utils.report import STATUS_LABELS

TITLE = "Off-host backup report"
BACKUP_LABELS = {"ok": "OK", "failed": "FAILED", "not_stored": "NOT STORED"}
_GENERATED_AT = re.compile(r'<time id="generated-at" datetime="([^"]*)"')
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1b1b1b; background: #ffffff; }
h1 { border-bottom: 4px solid #1f4e79; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #9a9a9a; padding: .3em .6em; text-align: left; vertical-align: top; }
thead th { background: #1f4e79; color: #ffffff; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.status-pass, .backup-ok { background: #c6efce; color: #0b5d1e; }
.status-warn { background: #ffeb9c; color: #7a5300; }
.status-fail, .backup-failed { background: #ffc7ce; color: #9c0006; font-weight: bold; }
.status-unknown, .backup-not_stored { background: #d9e1f2; color: #1f3864; }
section.finding { border-left: 6px solid #9a9a9a; margin: 1em 0; padding: .2em 1em; background: #fafafa; }
section.finding-fail { border-left-color: #c00000; }
section.finding-warn { border-left-color: #bf8f00; }
section.finding-unknown { border-left-color: #2f5597; }
pre { background: #f3f3f3; color: #1b1b1b; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
"""


def generated_at_of(page: str) -> str | None:
    """The generation time written in a page this module rendered (None for any other text)."""
    match = _GENERATED_AT.search(page)
    return match[1] if match else None


def human_duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if minutes == 0:
        return f"{seconds:.1f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


def dedup_ratio(stats: Mapping[str, Any]) -> float | None:
    """Share of the VM's data that was already in the repository (zero and unallocated blocks left out).

    The data of a run is ``bytes_logical - bytes_zero``: every other byte was either found stored
    (``bytes_deduplicated``, including the chunks an incremental run carried over without reading) or
    newly stored. None when the VM has no data.
    """
    data = stats.get("bytes_logical", 0) - stats.get("bytes_zero", 0)
    return stats.get("bytes_deduplicated", 0) / data if data > 0 else None


def backup_outcome(row: Mapping[str, Any]) -> str:
    """``failed``, ``ok`` (a restore point was written) or ``not_stored`` (check mode, or the step was skipped)."""
    if row.get("failed"):
        return "failed"
    return "ok" if row.get("restore_point") else "not_stored"


def _td(text: object, css: str = "", title: str = "") -> str:
    attributes = (f' class="{escape(css)}"' if css else "") + (f' title="{escape(title)}"' if title else "")
    return f"<td{attributes}>{escape(str(text))}</td>"


def _status_cell(finding: Mapping[str, Any] | None) -> str:
    if finding is None:
        return _td("—")
    return _td(STATUS_LABELS[finding["status"]], f"status-{finding['status']}", finding["message"])


def _summary_table(report: Mapping[str, Any], unassessed: Mapping[str, str]) -> Iterable[str]:
    yield '<table id="preflight-summary">'
    columns = "".join(f'<th title="{escape(text)}">{escape(rid)}</th>' for rid, text in REQUIREMENTS.items())
    yield f"<thead><tr><th>proxy</th>{columns}<th>overall</th></tr></thead><tbody>"
    for proxy, result in report["proxies"].items():
        by_id = {finding["id"]: finding for finding in result["findings"]}
        cells = "".join(_status_cell(by_id.get(rid)) for rid in REQUIREMENTS)
        overall = result["summary"]["status"]
        overall_cell = _td(STATUS_LABELS[overall], f"status-{overall}")
        yield f'<tr><th scope="row">{escape(proxy)}</th>{cells}{overall_cell}</tr>'
    for proxy, reason in unassessed.items():
        span = len(REQUIREMENTS) + 1
        reason_cell = f'<td colspan="{span}" class="status-unknown">not assessed: {escape(reason)}</td>'
        yield f'<tr><th scope="row">{escape(proxy)}</th>{reason_cell}</tr>'
    yield "</tbody></table>"


def _finding_section(proxy: str, finding: Mapping[str, Any]) -> Iterable[str]:
    status = finding["status"]
    yield f'<section class="finding finding-{escape(status)}" id="{escape(proxy)}-{escape(finding["id"])}">'
    label = f'<span class="status-{escape(status)}">{STATUS_LABELS[status]}</span>'
    yield f"<h3>{escape(proxy)}: {escape(finding['id'])} {label}</h3>"
    yield f'<p class="requirement">{escape(finding["requirement"])}</p>'
    yield f'<p class="message">{escape(finding["message"])}</p>'
    if finding["remedy"]:
        yield f'<p class="remedy"><strong>Remedy:</strong> {escape(finding["remedy"])}</p>'
    evidence = json.dumps(finding["evidence"], indent=2, ensure_ascii=False)
    yield f'<details><summary>Evidence</summary><pre class="evidence">{escape(evidence)}</pre></details>'
    yield "</section>"


def _findings(report: Mapping[str, Any]) -> Iterable[str]:
    acting = [
        (proxy, finding)
        for proxy, result in report["proxies"].items()
        for finding in result["findings"]
        if finding["status"] != "pass"
    ]
    yield "<h2>Findings to act on</h2>"
    if not acting:
        yield "<p>Every requirement passes on every proxy.</p>"
    for proxy, finding in acting:
        yield from _finding_section(proxy, finding)


def _disks_read(incremental: Mapping[str, Any]) -> str:
    """Per disk: read by RCT changed ranges, or in full and why."""
    parts = []
    for disk, how in incremental.items():  # in the order the data mover read them
        how = how if isinstance(how, Mapping) else {}
        if how.get("mode") == "changed_ranges":
            parts.append(f"{disk}: changed ranges")
        else:
            reason = how.get("fallback_reason")
            parts.append(f"{disk}: full" + (f" ({reason})" if reason else ""))
    return "; ".join(parts) or "—"


def _consistency(row: Mapping[str, Any]) -> str:
    """How consistent the VM's checkpoint was; a crash-consistent one with why the guest could not quiesce."""
    consistency = row.get("consistency")
    if consistency == "crash":
        return "crash" + (f" ({row['consistency_msg']})" if row.get("consistency_msg") else "")
    return consistency or "—"


def _backup_row(row: Mapping[str, Any]) -> str:
    stats = row.get("stats") or {}
    outcome = backup_outcome(row)
    ratio = dedup_ratio(stats) if stats else None
    figures = [
        _td(human_bytes(stats["bytes_read"]) if "bytes_read" in stats else "—", "number"),
        _td(human_bytes(stats["bytes_stored"]) if "bytes_stored" in stats else "—", "number"),
        _td(f"{ratio * 100:.1f} %" if ratio is not None else "—", "number"),
        _td(human_duration(stats["duration"]) if "duration" in stats else "—", "number"),
    ]
    detail = (row.get("msg") if outcome == "failed" else row.get("restore_point")) or ""
    return "".join(
        [
            "<tr>",
            _td(row["vm"]),
            _td(row.get("proxy") or "—"),
            *figures,
            _td(_disks_read(row.get("incremental") or {})),
            _td(_consistency(row)),
            _td(BACKUP_LABELS[outcome], f"backup-{outcome}"),
            _td(detail),
            "</tr>",
        ]
    )


def _backups(backups: Sequence[Mapping[str, Any]]) -> Iterable[str]:
    yield "<h2>Backup</h2>"
    yield '<table id="backup-results"><thead><tr>'
    headers = (
        "VM",
        "proxy",
        "read",
        "stored",
        "dedup ratio",
        "duration",
        "disks read",
        "consistency",
        "status",
        "restore point or error",
    )
    yield "".join(f"<th>{escape(header)}</th>" for header in headers)
    yield "</tr></thead><tbody>"
    yield from (_backup_row(row) for row in backups)
    yield "</tbody></table>"


def render_html(
    report: Mapping[str, Any],
    backups: Sequence[Mapping[str, Any]] = (),
    unassessed: Mapping[str, str] | None = None,
) -> str:
    """The whole page: preflight summary (proxy x requirement), the findings to act on, then the backup rows."""
    unassessed = unassessed or {}
    generated = escape(report["generated_at"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{TITLE}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{TITLE}</h1>",
        f'<p>Generated <time id="generated-at" datetime="{generated}">{generated}</time>.</p>',
    ]
    if report["proxies"] or unassessed:
        overall = worst([report["status"], *(["unknown"] if unassessed else [])])
        parts += [
            "<h2>Preflight</h2>",
            f'<p>Overall: <span class="status-{overall}">{STATUS_LABELS[overall]}</span>.</p>',
            *_summary_table(report, unassessed),
            *_findings(report),
        ]
    if backups:
        parts += list(_backups(backups))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
