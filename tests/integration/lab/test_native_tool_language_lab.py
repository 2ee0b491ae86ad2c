"""Native tools' text in another display language (issue 19): `vssadmin list providers`, `sc.exe qfailure` and
`nltest /domain_trusts` translate their words on a localised Windows. The scripts read the same facts from
Win32_ShadowProvider, the service's FailureActions value and DsEnumerateDomainTrustsW; on a `display_language:
de-DE` host they find what they find on an English one. The lab answers a script that still runs one of those
tools with the tool's German text, so such a script fails here."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from lab_testkit import ProvisionedLab
from test_handlers_host_facts import ESTATE as FACTS_ESTATE

# isort: split
from lab.estate.loader import parse_estate
from lab.handlers import ScriptCall, ScriptFailure
from lab.handlers.host_facts import _context as facts_context
from lab.handlers.host_facts_identity import nltest_domain_trusts, parse_nltest_line
from lab.windows import script_code

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import parse_components_state

CREDENTIALS = {"username": "Administrator", "password": "x"}
PROVIDER = "Contoso Array VSS Hardware Provider"
RECOVERY = {"reset_period": 86400, "actions": [{"type": "restart", "delay_ms": 60000}, {"type": "run", "delay_ms": 0}]}


def estate(**options: object) -> dict:
    hosts = [
        {"name": name, "address": f"127.0.0.{80 + n}", "credentials": CREDENTIALS, "role": "hyperv"}
        for n, name in enumerate(("en", "de"))
    ]
    hosts[1].update(display_language="de-DE")
    for host in hosts:
        host.update(vss_providers=[{"name": PROVIDER, "version": "5.2.1"}], **options)
    return {
        "domains": FACTS_ESTATE["domains"],  # contoso.local trusts fabrikam.local and its child domain
        "trusts": FACTS_ESTATE["trusts"],
        "hosts": [{**host, "domain": "contoso.local"} for host in hosts],
    }


def lab_of(tmp_path: Path, **options: object) -> ProvisionedLab:
    return ProvisionedLab(parse_estate(estate(**options)), tmp_path / "lab")


def changed_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, line: str) -> None:
    """The lab's scripts, with `line` appended to `<name>.ps1`: a script that runs the tool again."""
    scripts = tmp_path / "scripts"
    shutil.copytree(script_code.SCRIPTS_DIR, scripts)
    (scripts / f"{name}.ps1").write_text((scripts / f"{name}.ps1").read_text() + f"\n{line}\n")
    monkeypatch.setattr(script_code, "SCRIPTS_DIR", scripts)


def trusts(lab: ProvisionedLab, host: str) -> list[dict]:
    return lab.call(host, "host_facts", {"ProbeTimeout": 60, "Components": []})["trusts"]


def test_a_german_host_reports_the_trusts_an_english_one_does(tmp_path):
    lab = lab_of(tmp_path)
    english = trusts(lab, "en")
    assert [(t["target"], t["direction"], t["intra_forest"]) for t in english] == [
        ("fabrikam.local", "Outbound", False),
        ("child.contoso.local", "Bidirectional", True),
    ]
    assert trusts(lab, "de") == english


def test_the_trusts_are_what_english_nltest_said(tmp_path):
    """The lab's DsEnumerateDomainTrustsW answer and its English nltest text name the same trusts."""
    lab = lab_of(tmp_path)
    host = lab.contexts["en"]
    context = facts_context(ScriptCall(host.host, lab.estate, "host_facts", {}, host.state_dir, host.files), 60)
    text = nltest_domain_trusts(context)
    parsed = [t for t in (parse_nltest_line(line, "contoso.local") for line in re.split(r"\r?\n", text)) if t]
    assert parsed == trusts(lab, "en")


def test_a_script_reading_nltest_finds_no_trust_on_a_german_host(tmp_path, monkeypatch):
    changed_script(tmp_path, monkeypatch, "facts_identity", "$null = & nltest.exe /domain_trusts")
    lab = lab_of(tmp_path)
    assert len(trusts(lab, "en")) == 2 and trusts(lab, "de") == []


def recovery(lab: ProvisionedLab, host: str) -> dict | None:
    step = {"action": "set_recovery", "name": "BackupHyperVInstaller", **RECOVERY}
    lab.call(host, "proxy_components_apply", {"Steps": [step]})
    component = {"Name": "x", "Source": "C:\\S", "Destination": "C:\\D", "Files": [], "Parameters": []}
    reply = lab.call(host, "proxy_components_read", {"Components": [{**component, "Service": "BackupHyperVInstaller"}]})
    return parse_components_state(reply)["components"]["x"]["service"]["recovery"]


def test_a_german_host_reports_the_recovery_actions_it_was_given(tmp_path):
    lab = lab_of(tmp_path)
    assert recovery(lab, "de") == {**RECOVERY, "non_crash_failures": True} == recovery(lab, "en")


def test_a_script_reading_sc_qfailure_misreads_a_german_host(tmp_path, monkeypatch):
    changed_script(tmp_path, monkeypatch, "proxy_components_read", "$null = & sc.exe qfailure Svc")
    lab = lab_of(tmp_path)
    assert recovery(lab, "de") != RECOVERY


def read_provider(lab: ProvisionedLab, host: str) -> dict | None:
    return lab.call(host, "vss_provider_read", {"Name": PROVIDER, "ProductId": "{p}"})["provider"]


def test_without_win32_shadowprovider_the_read_fails_in_every_language(tmp_path):
    lab = lab_of(tmp_path, broken_wmi=["Win32_ShadowProvider"])
    for host in ("en", "de"):
        with pytest.raises(ScriptFailure, match="Win32_ShadowProvider cannot be read"):
            read_provider(lab, host)
    assert read_provider(lab_of(tmp_path / "wmi"), "de")["Name"] == PROVIDER


def test_a_vssadmin_fallback_reports_an_installed_provider_absent_on_a_german_host(tmp_path, monkeypatch):
    line = "$null = (& vssadmin.exe list providers) -split 'Provider name: '"
    changed_script(tmp_path, monkeypatch, "vss_provider_read", line)
    lab = lab_of(tmp_path, broken_wmi=["Win32_ShadowProvider"])
    assert read_provider(lab, "en")["Name"] == PROVIDER
    assert read_provider(lab, "de") is None
