"""plan_features: every plan path of Windows features, the pending states, bad names, and the idempotence law."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.features import (
    parse_feature_state,
    plan_features,
    read_params,
    validate_feature_args,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NAMES = ["Hyper-V", "FS-Data-Deduplication"]
STATES = ["Installed", "Available", "Removed", "InstallPending", "UninstallPending"]


def args(**changes):
    base = {
        "name": list(NAMES),
        "state": "present",
        "include_sub_features": False,
        "include_management_tools": False,
        "source": None,
    }
    return {**base, **changes}


def reply(file: str) -> dict:
    return json.loads((FIXTURES / file).read_text())["stdout"]


def feature(name, state, subs=()):
    return {
        "Name": name,
        "DisplayName": name,
        "InstallState": state,
        "SubFeatures": [{"Name": s, "InstallState": st_} for s, st_ in subs],
    }


def test_fresh_proxy_installs_both_in_one_step():
    plan = plan_features(parse_feature_state(reply("windows_feature_read_fresh_proxy.json"), NAMES), args())
    assert plan.steps == [
        {
            "action": "install_features",
            "names": NAMES,
            "include_sub_features": False,
            "include_management_tools": False,
            "source": None,
        }
    ]
    assert [f["install_state"] for f in plan.before["features"]] == ["Available", "Available"]
    assert [f["install_state"] for f in plan.after["features"]] == ["Installed", "Installed"]


def test_installed_and_install_pending_count_as_present():
    plan = plan_features(parse_feature_state(reply("windows_feature_read_installed.json"), NAMES), args())
    assert plan.steps == [] and plan.after == plan.before


def test_removed_payload_installs_with_the_source_given():
    current = parse_feature_state(reply("windows_feature_read_dedup_only.json"), NAMES)
    plan = plan_features(current, args(source="D:\\sources\\sxs"))
    assert plan.steps[0]["names"] == ["FS-Data-Deduplication"] and plan.steps[0]["source"] == "D:\\sources\\sxs"


def test_absent_removes_installed_and_pending_but_not_available():
    current = parse_feature_state(
        {"features": [feature("A", "Installed"), feature("B", "InstallPending"), feature("C", "Available")]},
        ["A", "B", "C"],
    )
    plan = plan_features(current, args(name=["A", "B", "C"], state="absent"))
    assert plan.steps == [{"action": "uninstall_features", "names": ["A", "B"], "include_management_tools": False}]
    assert [f["install_state"] for f in plan.after["features"]] == ["Available", "Available", "Available"]


def test_uninstall_pending_counts_as_absent():
    current = parse_feature_state({"features": [feature("A", "UninstallPending")]}, ["A"])
    assert plan_features(current, args(name=["A"], state="absent")).steps == []


def test_a_missing_sub_feature_installs_the_parent_only_when_asked():
    current = parse_feature_state(
        {"features": [feature("Hyper-V", "Installed", [("Hyper-V-PowerShell", "Available")])]}, ["Hyper-V"]
    )
    assert plan_features(current, args(name=["Hyper-V"])).steps == []
    plan = plan_features(current, args(name=["Hyper-V"], include_sub_features=True))
    assert plan.steps[0]["names"] == ["Hyper-V"] and plan.steps[0]["include_sub_features"] is True
    assert plan.after["features"][0]["sub_features"] == [{"name": "Hyper-V-PowerShell", "install_state": "Installed"}]


def test_unknown_feature_is_refused_before_planning():
    with pytest.raises(PlanError, match="FS-Data-Deduplication"):
        parse_feature_state(reply("windows_feature_read_unknown_name.json"), NAMES)


def test_reply_order_does_not_matter_and_names_are_case_blind():
    current = parse_feature_state({"features": [feature("B", "Installed"), feature("a", "Available")]}, ["A", "b"])
    assert [f["name"] for f in current["features"]] == ["a", "B"]


@pytest.mark.parametrize("bad", ["Hyper-*", "Web Server", "", "-x"])
def test_bad_names_fail_validation(bad):
    with pytest.raises(PlanError):
        validate_feature_args(args(name=[bad]))


def test_validation_drops_duplicates_case_blind_and_refuses_source_for_absent():
    assert validate_feature_args(args(name=["Hyper-V", "hyper-v", "FS-Data-Deduplication"])) == NAMES
    with pytest.raises(PlanError, match="source"):
        validate_feature_args(args(state="absent", source="D:\\sxs"))


@pytest.mark.parametrize(
    "source", ["D:\\sources\\sxs", "\\\\fs1\\sxs", "WIM:D:\\sources\\install.wim:4", "wim:\\\\fs1\\w\\install.wim"]
)
def test_a_side_by_side_folder_or_a_wim_source_is_accepted(source):
    assert validate_feature_args(args(source=source)) == NAMES


@pytest.mark.parametrize("source", ["D:\\sources\\sxs\x0b1", "WIM:D:\\sources\\in|stall.wim:4", "WIM:D:\\x:y.wim:4"])
def test_a_source_windows_refuses_is_refused_naming_the_option(source):
    with pytest.raises(PlanError, match=r"^source: "):
        validate_feature_args(args(source=source))


def test_read_params_carry_names_and_sub_feature_switch():
    assert read_params(NAMES, args(include_sub_features=True)) == {"Name": NAMES, "IncludeSubFeatures": True}


@given(
    states=st.lists(st.sampled_from(STATES), min_size=1, max_size=4),
    sub_states=st.lists(st.sampled_from(STATES), max_size=3),
    want=st.sampled_from(["present", "absent"]),
    subs=st.booleans(),
)
def test_planning_again_from_after_gives_no_step(states, sub_states, want, subs):
    names = [f"F{i}" for i in range(len(states))]
    children = [(f"S{i}", state) for i, state in enumerate(sub_states)] if subs else []
    current = parse_feature_state({"features": [feature(n, s, children) for n, s in zip(names, states)]}, names)
    request = args(name=names, state=want, include_sub_features=subs)
    first = plan_features(current, request)
    assert len(first.steps) <= 1
    assert plan_features(first.after, request).steps == []
