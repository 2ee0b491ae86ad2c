"""desired_state.repository_folder: the repository folder's plan, compared by SID over SDDL."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import parse_sddl
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.repository_folder import (
    desired_sddl,
    names_to_translate,
    plan_folder,
    security_matches,
    validate_folder_args,
)

DOMAIN = "S-1-5-21-1000-2000-3000"
PROXY1 = f"{DOMAIN}-1105"
BASE_SIDS = ["S-1-5-18", "S-1-5-32-544"]
PROTECTED = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
# What a new folder below D:\ inherits on Windows Server: Users may read it.
INHERITED = "O:BAD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)"


def args(path: str = "D:\\Backup\\repo", extra: list[str] | None = None) -> dict:
    return {"path": path, "state": "present", "extra_principals": extra or []}


def reply(exists: bool = True, sddl: str | None = PROTECTED, **overrides) -> dict:
    base = {
        "path": "D:\\Backup\\repo",
        "drive_exists": True,
        "exists": exists,
        "container": exists,
        "sddl": sddl if exists else None,
        "domain_sid": DOMAIN,
        "principals": [],
        "unmapped": [],
    }
    return {**base, **overrides}


def test_a_missing_folder_is_created_then_secured():
    plan = plan_folder(reply(exists=False), args())
    assert [step["action"] for step in plan.steps] == ["create_folder", "set_security"]
    assert plan.steps[1]["principals"] == ["S-1-5-18", "S-1-5-32-544"]
    assert plan.steps[1]["owner"] == "S-1-5-32-544"
    assert plan.before["folder"] == {"path": "D:\\Backup\\repo", "exists": False, "sddl": None}
    assert plan.after["folder"]["sddl"] == PROTECTED


def test_inherited_aces_are_a_difference():
    plan = plan_folder(reply(sddl=INHERITED), args())
    assert [step["action"] for step in plan.steps] == ["set_security"]


def test_the_plan_from_after_has_no_steps():
    extra = ["CONTOSO\\PX1$", "S-1-5-21-9-9-9-512"]
    principals = [{"name": "CONTOSO\\PX1$", "sid": PROXY1}]
    first = plan_folder(reply(exists=False, principals=principals), args(extra=extra))
    again = plan_folder(reply(sddl=first.after["folder"]["sddl"], principals=principals), args(extra=extra))
    assert again.steps == [] and again.changed is False
    assert first.after["folder"]["sddl"] == f"{PROTECTED}(A;OICI;FA;;;{PROXY1})(A;OICI;FA;;;S-1-5-21-9-9-9-512)"


@pytest.mark.parametrize(
    "current",
    [
        "O:BAD:PAI(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)",  # another order
        "O:S-1-5-32-544D:P(A;CIOI;0x1f01ff;;;S-1-5-18)(A;OICI;FA;;;S-1-5-32-544)",  # SIDs, a mask, no AI
    ],
)
def test_the_same_acl_written_otherwise_is_no_difference(current):
    assert security_matches(current, BASE_SIDS, DOMAIN)


@pytest.mark.parametrize(
    "current",
    [
        "O:BAD:AI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)",  # inheritance not removed
        "O:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)",  # another owner
        "O:BAD:PAI(A;OICI;FA;;;SY)",  # an entry missing
        "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)",  # Users may read
        "O:BAD:PAI(A;CI;FA;;;SY)(A;OICI;FA;;;BA)",  # files would not inherit
        "O:BAD:PAI(A;OICI;FR;;;SY)(A;OICI;FA;;;BA)",  # read only
        "O:BAD:NO_ACCESS_CONTROL",  # a NULL DACL: everyone
        "not sddl",
    ],
)
def test_a_different_acl_is_replaced(current):
    assert not security_matches(current, BASE_SIDS, DOMAIN)


def test_a_domain_alias_is_compared_by_its_sid():
    sids = [*BASE_SIDS, f"{DOMAIN}-512"]
    assert desired_sddl(sids, DOMAIN).endswith("(A;OICI;FA;;;DA)")  # Windows writes its domain's groups so
    assert security_matches(f"{PROTECTED}(A;OICI;FA;;;DA)", sids, DOMAIN)
    assert security_matches(f"{PROTECTED}(A;OICI;FA;;;{DOMAIN}-512)", sids, DOMAIN)
    assert not security_matches(f"{PROTECTED}(A;OICI;FA;;;DA)", sids, "S-1-5-21-7-7-7")  # another domain's
    assert not security_matches(f"{PROTECTED}(A;OICI;FA;;;DA)", sids, None)  # unresolved: replaced


def test_an_unmapped_name_fails_naming_it_before_any_step():
    with pytest.raises(PlanError, match=r"cannot map 'CONTOSO\\NOPE\$' to an account.*nothing was changed"):
        plan_folder(reply(unmapped=["CONTOSO\\NOPE$"]), args(extra=["CONTOSO\\NOPE$"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"drive_exists": False, "exists": False}, "the host has no drive D:"),
        ({"container": False}, "is a file on the host, not a folder"),
    ],
)
def test_what_windows_refuses_fails_the_plan(overrides, message):
    with pytest.raises(PlanError, match=message):
        plan_folder(reply(**overrides), args())


@pytest.mark.parametrize("path", ["D:\\", "\\\\fs1\\backup\\repo", "Backup\\repo", "D:\\Backup\\re|po", "D:/Backup"])
def test_paths_that_are_not_a_folder_on_a_drive_are_refused(path):
    with pytest.raises(PlanError, match="path"):
        validate_folder_args(args(path))


def test_names_are_translated_once_and_sids_not_at_all():
    extra = ["CONTOSO\\PX1$", "contoso\\px1$", "S-1-5-21-1-2-3-500"]
    assert names_to_translate(args(extra=extra)) == ["CONTOSO\\PX1$"]


def test_duplicate_principals_become_one_entry():
    principals = [{"name": "BUILTIN\\Administrators", "sid": "S-1-5-32-544"}]
    plan = plan_folder(reply(exists=False, principals=principals), args(extra=["BUILTIN\\Administrators"]))
    assert plan.steps[1]["principals"] == ["S-1-5-18", "S-1-5-32-544"]
    assert parse_sddl(plan.after["folder"]["sddl"]).dacl.flags == ("P", "AI")
