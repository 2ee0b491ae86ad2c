"""Action plugin for backup.hyperv.preflight: judge an off-host proxy against the facts of its
source hosts and SMB3 servers (R1, R6-R15), report, and optionally fail the task.

It needs no connection (like core ``debug``): facts come from ``hostvars[h].ansible_facts.
hyperv_offhost`` (gathered by backup.hyperv.host_facts) or from a recorded facts file
``{"hosts": {name: facts}}`` for offline assessment. It changes nothing, so check mode is the same run.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.evaluate import evaluate_proxy, summarise
from ansible_collections.backup.hyperv.plugins.plugin_utils.decision import (
    DEDUP_FEATURE_CHOICES,
    FAILING_STATUSES,
    decide,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import (
    facts_from_file,
    facts_from_hostvars,
    load_facts_file,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import FactsSchemaError
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import REQUIREMENTS
from ansible_collections.backup.hyperv.plugins.plugin_utils.report import (
    FORMATS,
    STATUS_LABELS,
    build_report,
    write_reports,
)

PREFLIGHT_SPEC: dict[str, dict[str, Any]] = {
    "proxy": {"type": "str"},
    "source_hosts": {"type": "list", "elements": "str", "required": True},
    "smb_servers": {"type": "list", "elements": "str", "default": []},
    "facts_file": {"type": "path"},
    "fail_on": {"type": "str", "choices": list(FAILING_STATUSES), "default": "fail"},
    "remedied": {"type": "list", "elements": "str", "choices": list(REQUIREMENTS), "default": []},
    "dedup_feature": {"type": "str", "choices": list(DEDUP_FEATURE_CHOICES), "default": "auto"},
    "report_dir": {"type": "path"},
    "report_formats": {"type": "list", "elements": "str", "choices": list(FORMATS), "default": list(FORMATS)},
}


def plain(value: Any) -> Any:
    """Copy of ``value`` as plain JSON types (hostvars hold lazy/tagged containers)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    for kind in (bool, int, float):  # bool first: it is an int too
        if isinstance(value, kind):
            return kind(value)
    return None if value is None else str(value)


def facts_reader(args: Mapping[str, Any], task_vars: Mapping[str, Any]) -> Callable[[str], HostFacts]:
    """A function from host name to HostFacts, reading the facts file or hostvars."""
    if args["facts_file"]:
        hosts = load_facts_file(args["facts_file"])
        return lambda name: facts_from_file(hosts, name)
    hostvars = task_vars.get("hostvars") or {}

    def from_hostvars(name: str) -> HostFacts:
        if name not in hostvars:
            raise KeyError(f"host {name!r} is not in the inventory")
        return facts_from_hostvars({name: plain(hostvars[name])}, name, missing_ok=True)

    return from_hostvars


def failure_message(proxy: str, findings: Sequence[Mapping[str, Any]], blocking: Sequence[str]) -> str:
    """Why the task failed: a headline with the blocking ids per status, then each blocking finding with
    its message and remedy, one or two lines each, so the reason and the fix fit on one screen."""
    blocked = [finding for finding in findings if finding["id"] in blocking]
    ids = {status: [f["id"] for f in blocked if f["status"] == status] for status in ("fail", "unknown", "warn")}
    headline = "; ".join(f"{status}: {', '.join(ids[status])}" for status in ids if ids[status])
    lines = [f"preflight of {proxy}: {headline}"]
    for finding in blocked:
        lines.append(f"{finding['id']} {STATUS_LABELS[finding['status']]}: {finding['message']}")
        if finding["remedy"]:
            lines.append(f"  remedy: {finding['remedy']}")
    return "\n".join(lines)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        _ignored, args = self.validate_argument_spec(argument_spec=PREFLIGHT_SPEC)
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        proxy_name = args["proxy"] or task_vars.get("inventory_hostname")
        if not proxy_name:
            raise AnsibleActionFail("preflight needs 'proxy' (or an inventory_hostname to default to)")
        try:
            read = facts_reader(args, task_vars)
            proxy = read(proxy_name)
            sources = [read(name) for name in args["source_hosts"]]
            servers = [read(name) for name in args["smb_servers"]]
        except (KeyError, FactsSchemaError, OSError, ValueError) as error:
            message = error.args[0] if isinstance(error, KeyError) else str(error)
            failure = {
                "failed": True,
                "changed": False,
                "proxy": proxy_name,
                "msg": f"preflight cannot read facts: {message}",
            }
            return {**result, **failure}
        verdicts = evaluate_proxy(proxy, sources, servers)
        findings = [finding.to_dict() for finding in verdicts]
        summary = summarise(verdicts)
        result.update(changed=False, proxy=proxy_name, findings=findings, summary=summary)
        without_facts = [host.name for host in (proxy, *sources, *servers) if not host.schema_version]
        if without_facts:
            result["warnings"] = [f"no hyperv_offhost facts for {', '.join(without_facts)}: their checks are unknown"]
        if args["report_dir"]:
            report = build_report({proxy_name: {"summary": summary, "findings": findings}})
            try:
                result["report_files"] = write_reports(
                    report, args["report_dir"], args["report_formats"], stem=f"preflight-{proxy_name}"
                )
            except OSError as error:
                return {**result, "failed": True, "msg": f"preflight cannot write its report: {error}"}
        policy = {name: args[name] for name in ("fail_on", "remedied", "dedup_feature")}
        result["decision"] = decision = decide(proxy, sources, verdicts, **policy)
        if decision["blocked"]:
            result.update(failed=True, msg=failure_message(proxy_name, findings, decision["blocking"]))
        else:
            result["msg"] = f"preflight of {proxy_name}: {summary['status']}"
        return result
