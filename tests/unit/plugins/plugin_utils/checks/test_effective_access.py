"""Effective access through a DACL (Microsoft "How DACLs Control Access to an Object", "File Security
and Access Rights", "Access Mask Format"), by example and by property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.effective_access import (
    FILE_ALL_ACCESS,
    FILE_GENERIC_READ,
    READ_ACCESS,
    evaluate,
    evaluate_child_files,
    evaluate_descriptor,
    inherited_by_container,
    is_canonical,
    map_generic,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import Ace, parse_sddl

DOMAIN = "S-1-5-21-1111111111-2222222222-3333333333"
ACCOUNT = f"{DOMAIN}-1150"
TOKEN = frozenset({ACCOUNT, f"{DOMAIN}-515", "S-1-1-0", "S-1-5-11", "S-1-5-2", "S-1-5-32-545"})
OUTSIDERS = ["S-1-5-32-544", "S-1-5-18", f"{DOMAIN}-1151", "DA"]


def access(sddl: str, token: frozenset[str] = TOKEN):
    return evaluate_descriptor(parse_sddl(sddl), token, DOMAIN)


def test_read_is_file_generic_read():
    assert READ_ACCESS == FILE_GENERIC_READ == 0x120089


def test_generic_rights_map_to_file_rights():
    assert map_generic(0x80000000) == 0x120089
    assert map_generic(0x40000000) == 0x120116
    assert map_generic(0x20000000) == 0x1200A0
    assert map_generic(0x10000000) == FILE_ALL_ACCESS
    assert map_generic(0x80000000 | 0x40000) == 0x120089 | 0x40000


def test_allow_through_domain_computers_alias():
    result = access("D:(A;;FR;;;DC)")
    assert result.readable and result.granted_by == ("(A;;0x120089;;;DC)",)


def test_deny_first_wins_and_names_the_ace():
    result = access("D:(D;;0x1;;;DC)(A;;FA;;;WD)")
    assert not result.readable and result.denied_by == ("(D;;0x1;;;DC)",)


def test_later_deny_does_not_take_back_granted_bits():
    """Windows stops at the first decision per bit: a non-canonical trailing deny is too late."""
    result = access("D:(A;;FA;;;WD)(D;;FA;;;DC)")
    assert result.readable and not result.canonical


def test_partial_rights_are_not_read():
    assert not access("D:(A;;0x1;;;WD)").readable  # FILE_READ_DATA alone
    assert access("D:(A;;0x1;;;WD)(A;;0x120088;;;AU)").readable  # bits may come from several ACEs


def test_inherit_only_ace_skips_the_folder_but_reaches_files():
    descriptor = parse_sddl("D:(A;OICIIO;FR;;;DC)")
    assert not evaluate_descriptor(descriptor, TOKEN, DOMAIN).readable
    assert evaluate_child_files(descriptor, TOKEN, DOMAIN).readable


def test_container_only_inheritance_does_not_reach_files():
    descriptor = parse_sddl("D:(A;CIIO;FR;;;DC)")
    assert not evaluate_child_files(descriptor, TOKEN, DOMAIN).readable


def files_at(sddl: str, depth: int) -> bool:
    return evaluate_child_files(parse_sddl(sddl), TOKEN, DOMAIN, depth=depth).readable


@pytest.mark.parametrize(
    ("flags", "in_root", "one_down", "two_down"),
    [
        # "ACE Inheritance Rules": OI alone reaches files directly and, as an inherit-only copy in
        # every folder between, files at any depth; NP stops it at the direct children.
        ("OI", True, True, True),
        ("OINP", True, False, False),
        ("OIIO", True, True, True),
        ("OIIONP", True, False, False),
        # CI|OI: each folder inherits an effective, still inheritable copy; with NP the copy in the
        # first folder loses its inherit flags, so no file below a subfolder gets it.
        ("OICI", True, True, True),
        ("OICINP", True, False, False),
        ("OICIIO", True, True, True),
        # CI alone never reaches a file; neither does an ACE without inherit flags.
        ("CI", False, False, False),
        ("CIIO", False, False, False),
        ("", False, False, False),
    ],
)
def test_an_allow_reaches_vm_files_by_depth_below_the_share(flags, in_root, one_down, two_down):
    sddl = f"D:(A;{flags};FR;;;DC)"
    assert [files_at(sddl, depth) for depth in (0, 1, 2)] == [in_root, one_down, two_down]


def test_a_no_propagate_deny_spares_files_in_subfolders():
    sddl = "D:(D;OICINP;FR;;;DC)(A;OICI;FR;;;WD)"
    assert not files_at(sddl, 0)
    assert files_at(sddl, 1) and files_at(sddl, 3)


def test_inherited_order_is_kept_so_a_deny_still_wins_below():
    sddl = "D:(D;OICI;0x1;;;DC)(A;OICI;FA;;;WD)"
    result = evaluate_child_files(parse_sddl(sddl), TOKEN, DOMAIN, depth=2)
    assert not result.readable and result.denied_by == ("(D;ID;0x1;;;DC)",)


def test_folders_inherit_by_the_documented_rules():
    """The copy each subfolder gets: effective or inherit-only, inheritable unless NP."""
    aces = parse_sddl("D:(A;OI;FR;;;DC)(A;OINP;FR;;;DU)(A;CINP;FR;;;WD)(A;OICIIO;FR;;;AU)(A;;FR;;;BU)").dacl.aces
    assert [(ace.trustee, ace.flags) for ace in inherited_by_container(aces)] == [
        ("DC", ("ID", "OI", "IO")),
        ("WD", ("ID",)),
        ("AU", ("ID", "OI", "CI")),
    ]


def test_null_dacl_grants_all_and_empty_dacl_grants_nothing():
    assert access("D:NO_ACCESS_CONTROL").readable and access("O:SY").readable
    assert not access("D:").readable and not access("D:P").readable


def test_object_and_conditional_aces():
    assert not access("D:(OA;;FA;bf967aba-0de6-11d0-a285-00aa003049e2;;WD)").readable  # directory objects only
    assert not access("D:(XA;;FA;;;WD;(Member_of {SID(BA)}))").readable  # cannot evaluate: never grants
    assert not access("D:(XD;;FR;;;WD;(Member_of {SID(BA)}))(A;;FA;;;WD)").readable  # deny assumed


def test_unresolved_alias_is_reported():
    result = evaluate_descriptor(parse_sddl("D:(A;;FA;;;EA)(A;;FR;;;DC)"), TOKEN, None)
    assert result.unresolved == ("EA", "DC") and not result.readable


def test_canonical_order():
    assert is_canonical(parse_sddl("D:(D;;FA;;;DC)(A;;FA;;;WD)(D;ID;FA;;;BA)(A;ID;FA;;;SY)").dacl.aces)
    assert not is_canonical(parse_sddl("D:(A;;FA;;;WD)(D;;FA;;;DC)").dacl.aces)


trustees = st.sampled_from([ACCOUNT, "DC", "WD", "AU", "BU", *OUTSIDERS])
masks = st.one_of(
    st.integers(0, 0x1F01FF),
    st.sampled_from([0x80000000, 0x10000000, 0x120089, 0x1200A9, 0x1301BF, 0x1]),
)
flags = st.sampled_from([(), ("OI", "CI"), ("ID",), ("OI", "CI", "IO")])
allow_aces = st.builds(Ace, type=st.just("A"), flags=flags, mask=masks, trustee=trustees)
any_aces = st.builds(Ace, type=st.sampled_from(["A", "D"]), flags=flags, mask=masks, trustee=trustees)


@given(st.lists(allow_aces, max_size=8), st.randoms())
def test_allow_only_dacl_is_order_independent(aces, random):
    shuffled = list(aces)
    random.shuffle(shuffled)
    assert evaluate(aces, TOKEN, DOMAIN).granted == evaluate(shuffled, TOKEN, DOMAIN).granted


@given(st.lists(any_aces, max_size=8), st.sampled_from([ACCOUNT, "DC", "WD", "AU"]), st.sampled_from([0x1, 0x120089]))
def test_a_leading_deny_for_the_account_always_wins(aces, trustee, deny_mask):
    result = evaluate([Ace("D", (), deny_mask, trustee), *aces], TOKEN, DOMAIN)
    assert not result.readable and result.denied_by


@given(
    st.lists(any_aces, max_size=8),
    st.builds(Ace, type=st.sampled_from(["A", "D"]), flags=flags, mask=masks, trustee=st.sampled_from(OUTSIDERS)),
    st.integers(0, 8),
)
def test_an_ace_for_an_unrelated_sid_changes_nothing(aces, outsider, position):
    widened = [*aces[:position], outsider, *aces[position:]]
    assert evaluate(widened, TOKEN, DOMAIN).granted == evaluate(aces, TOKEN, DOMAIN).granted


@given(st.lists(any_aces, max_size=8))
def test_generic_and_specific_rights_are_equivalent(aces):
    specific = [Ace(a.type, a.flags, map_generic(a.mask), a.trustee) for a in aces]
    assert evaluate(specific, TOKEN, DOMAIN).granted == evaluate(aces, TOKEN, DOMAIN).granted


@given(st.lists(any_aces, max_size=8))
def test_granted_rights_never_exceed_what_matching_allows_offer(aces):
    offered = 0
    for ace in aces:
        if (
            ace.type == "A"
            and "IO" not in ace.flags
            and (ace.trustee in ("DC", "WD", "AU", "BU") or ace.trustee == ACCOUNT)
        ):
            offered |= map_generic(ace.mask)
    assert evaluate(aces, TOKEN, DOMAIN).granted & ~offered == 0


def test_a_deny_for_an_alias_with_no_domain_leaves_the_read_undecided_not_granted():
    """DC stands for the server's Domain Computers ("SID Strings"): with no domain to resolve it against, a deny
    for it may block the proxy, so a grant after it is no verdict; an ACE that cannot change it is ignored."""
    dacl = parse_sddl("D:(D;OICI;FR;;;DC)(A;OICI;0x1200a9;;;AU)").dacl.aces
    unresolved = evaluate(dacl, TOKEN, None)
    assert unresolved.readable and unresolved.undecided == ("DC",)
    assert evaluate(dacl, TOKEN, DOMAIN).undecided == ()  # resolved: DC is in the token, the deny applies
    granted_first = parse_sddl("D:(A;OICI;FR;;;AU)(D;OICI;FR;;;DC)").dacl.aces
    assert evaluate(granted_first, TOKEN, None).undecided == ()  # the read was granted before it


def test_an_ace_for_a_domain_group_is_undecided_when_the_groups_are_unknown():
    group = f"{DOMAIN}-1200"
    deny = parse_sddl(f"D:(D;OICI;FR;;;{group})(A;OICI;FR;;;AU)").dacl.aces
    grant = parse_sddl(f"D:(A;OICI;FR;;;{group})").dacl.aces
    assert evaluate(deny, TOKEN, DOMAIN).undecided == ()  # memberships known: the proxy is not in it
    assert evaluate(deny, TOKEN, DOMAIN, groups_known=False).undecided == (group,)
    assert evaluate(grant, TOKEN, DOMAIN, groups_known=False).undecided == (group,)  # the mirror: maybe granted
    assert (
        evaluate(
            parse_sddl("D:(D;;FR;;;S-1-5-32-544)(A;;FR;;;AU)").dacl.aces, TOKEN, DOMAIN, groups_known=False
        ).undecided
        == ()
    )
