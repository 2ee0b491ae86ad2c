"""plan_provider: every plan path of the VSS hardware provider (R11), secrets kept out, the idempotence law."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.provider import (
    parse_provider_state,
    plan_provider,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PASSWORD = "Arr@y-S3cret"
ARGS = {
    "name": "Contoso Array VSS Hardware Provider",
    "state": "present",
    "package": "C:\\Installers\\ContosoVssProvider-5.2.1.msi",
    "package_type": "auto",
    "product_id": "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}",
    "version": "5.2.1",
    "install_arguments": "",
    "uninstall_arguments": "",
    "config_command": "C:\\Program Files\\Contoso\\VSS\\contoso-vss-config.exe",
    "config_arguments": "--array {controlling_server} --user {array_user} --password-stdin",
    "config_password_stdin": True,
    "controlling_server": "array01.example.com",
    "array_user": "vss-backup",
    "array_password": PASSWORD,
    "update_password": "on_create",
}


def state(name: str) -> dict:
    reply = json.loads((FIXTURES / f"vss_provider_read_{name}.json").read_text(encoding="utf-8"))["stdout"]
    return parse_provider_state(reply)


def args(**changes) -> dict:
    return {**ARGS, **changes}


def actions(plan) -> list[str]:
    return [step["action"] for step in plan.steps]


def test_fresh_install_installs_configures_and_verifies():
    plan = plan_provider(state("not_installed"), ARGS)
    assert actions(plan) == ["install_package", "configure_provider", "verify_provider"]
    assert plan.steps[0] == {
        "action": "install_package",
        "path": ARGS["package"],
        "type": "msi",
        "product_id": ARGS["product_id"],
        "arguments": "",
        "reinstall": False,
    }
    assert plan.steps[2] == {"action": "verify_provider", "name": ARGS["name"], "type": "hardware"}
    assert plan.before == {"provider": None, "product": None, "configuration": None}
    assert plan.after["product"]["version"] == "5.2.1" and plan.after["provider"]["type"] == "hardware"


def test_installed_and_configured_needs_no_step():
    plan = plan_provider(state("installed"), ARGS)
    assert plan.steps == [] and plan.before == plan.after


def test_older_version_with_the_same_product_code_is_reinstalled_and_reconfigured():
    plan = plan_provider(state("older_version"), ARGS)
    assert actions(plan) == ["install_package", "configure_provider", "verify_provider"]
    assert plan.steps[0]["reinstall"] is True
    assert plan.before["product"]["version"] == "5.1.0" and plan.after["product"]["version"] == "5.2.1"
    assert plan.before["provider"]["version"] == "5.1.0" and plan.after["provider"]["version"] is None  # unknown yet


def test_product_installed_but_provider_not_registered_is_repaired():
    current = state("installed")
    current["provider"] = None
    plan = plan_provider(current, ARGS)
    assert actions(plan) == ["install_package", "configure_provider", "verify_provider"]
    assert plan.steps[0]["reinstall"] is True


def test_software_provider_under_that_name_cannot_serve_transportable_shadow_copies():
    current = state("installed")
    current["provider"]["type"] = "software"
    with pytest.raises(PlanError, match="software provider; only a hardware provider"):
        plan_provider(current, ARGS)


def test_missing_package_is_an_error_before_anything_runs():
    current = state("not_installed")
    current["package_exists"] = False
    with pytest.raises(PlanError, match=r"package: .* does not exist on the host"):
        plan_provider(current, ARGS)


@pytest.mark.parametrize(
    "change",
    [
        {"controlling_server": "array02.example.com"},
        {"array_user": "other"},
        {"config_arguments": "--array={controlling_server} --user={array_user} --password-stdin"},
    ],
)
def test_changed_configuration_reruns_only_the_tool(change):
    plan = plan_provider(state("installed"), args(**change))
    assert actions(plan) == ["configure_provider", "verify_provider"]
    assert plan.after["configuration"]["controlling_server"] == args(**change)["controlling_server"]


def test_controlling_server_compares_without_case():
    assert plan_provider(state("installed"), args(controlling_server="ARRAY01.example.com")).steps == []


def test_update_password_always_reruns_the_tool():
    assert actions(plan_provider(state("installed"), args(update_password="always"))) == [
        "configure_provider",
        "verify_provider",
    ]


def test_no_configuration_options_install_without_the_tool():
    plain = args(
        config_command=None, config_arguments=None, controlling_server=None, array_user=None, array_password=None
    )
    assert actions(plan_provider(state("not_installed"), plain)) == ["install_package", "verify_provider"]


def test_password_is_in_no_step_and_no_view():
    for current in (state("not_installed"), state("older_version"), state("installed")):
        plan = plan_provider(current, args(update_password="always"))
        assert PASSWORD not in json.dumps([plan.steps, plan.before, plan.after])


def test_exe_package_runs_with_its_own_arguments():
    plan = plan_provider(
        state("not_installed"), args(package="C:\\i\\setup.exe", product_id="ContosoVss", install_arguments="/S")
    )
    assert plan.steps[0]["type"] == "exe" and plan.steps[0]["arguments"] == "/S"


def test_absent_uninstalls_the_msi_and_forgets_the_configuration():
    plan = plan_provider(state("installed"), args(state="absent"))
    assert plan.steps == [
        {"action": "uninstall_package", "product_id": ARGS["product_id"], "arguments": "", "type": "msi"},
        {"action": "remove_configuration", "name": ARGS["name"]},
    ]
    assert plan.after == {"provider": None, "product": None, "configuration": None}


def test_absent_exe_uses_the_uninstall_keys_command():
    current = state("installed")
    current["product"].update(windows_installer=False, uninstall_command='"C:\\Contoso\\uninst.exe" /S')
    step = plan_provider(current, args(state="absent")).steps[0]
    assert step["type"] == "exe" and step["command"] == '"C:\\Contoso\\uninst.exe" /S'


def test_absent_when_already_absent_needs_no_step():
    assert plan_provider(state("not_installed"), args(state="absent")).steps == []


def test_absent_with_a_provider_but_no_product_names_the_product_id():
    current = state("installed")
    current["product"] = None
    with pytest.raises(PlanError, match="check product_id"):
        plan_provider(current, args(state="absent"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"product_id": "not-a-guid"}, "product_id: an MSI product code"),
        ({"config_arguments": "--x {secret}"}, "unknown placeholder"),
        ({"controlling_server": None}, "uses {controlling_server} but option controlling_server is not set"),
        ({"array_password": None}, "config_password_stdin is true"),
        ({"package": "C:\\i\\setup.zip"}, "package_type: cannot tell"),
        ({"name": "bad\\name"}, "name:"),
    ],
)
def test_bad_arguments_are_named(change, message):
    with pytest.raises(PlanError, match=message):
        plan_provider(state("not_installed"), args(**change))


@st.composite
def provider_host(draw) -> dict:
    current = copy.deepcopy(state(draw(st.sampled_from(["not_installed", "installed", "older_version"]))))
    if current["provider"] and draw(st.booleans()):
        current["provider"] = None
    if current["configuration"] and draw(st.booleans()):
        current["configuration"]["controlling_server"] = draw(st.sampled_from([None, "old.example.com"]))
    if current["product"] and draw(st.booleans()):
        current["product"]["version"] = draw(st.sampled_from(["4.0", "5.2.1.0"]))
    return current


@settings(max_examples=100, deadline=None)
@given(current=provider_host(), wanted=st.sampled_from(["present", "absent"]), server=st.sampled_from(["a1", "a2"]))
def test_idempotence_law(current, wanted, server):
    task = args(state=wanted, controlling_server=server)
    assume(not (wanted == "absent" and current["provider"] and not current["product"]))  # refused, tested above
    plan = plan_provider(current, task)
    assert plan_provider(plan.after, task).steps == []
