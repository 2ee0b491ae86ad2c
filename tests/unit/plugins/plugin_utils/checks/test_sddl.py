"""SDDL parsing and formatting (Microsoft "Security Descriptor String Format", "ACE Strings", "SID Strings")."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import (
    ACE_FLAGS,
    RIGHT_LETTERS,
    Ace,
    Acl,
    SddlError,
    SecurityDescriptor,
    format_sddl,
    parse_sddl,
    resolve_sid,
)

DOMAIN = "S-1-5-21-1111111111-2222222222-3333333333"


def test_typical_folder_descriptor():
    sd = parse_sddl("O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICIIO;GA;;;CO)(A;;0x1200a9;;;S-1-5-21-1-2-3-1201)")
    assert (sd.owner, sd.group, sd.dacl.flags) == ("BA", "SY", ("P", "AI"))
    assert sd.dacl.aces[0] == Ace("A", ("OI", "CI"), 0x1F01FF, "SY")
    assert sd.dacl.aces[1].has("IO") and sd.dacl.aces[1].mask == 0x10000000
    assert sd.dacl.aces[2].mask == 0x1200A9 and sd.dacl.aces[2].trustee == "S-1-5-21-1-2-3-1201"
    assert sd.sacl is None


def test_rights_letters_combine_and_hex_and_decimal_masks_parse():
    aces = parse_sddl("D:(A;;RCSDWDWO;;;WD)(A;;CCDCLCSWRPWPDTLOCR;;;WD)(A;;0x1F01FF;;;WD)(A;;1179785;;;WD)").dacl.aces
    assert [ace.mask for ace in aces] == [0xF0000, 0x1FF, 0x1F01FF, 0x120089]
    assert RIGHT_LETTERS["FR"] == 0x120089 and RIGHT_LETTERS["GA"] == 0x10000000


def test_object_and_conditional_aces_and_sacl():
    sd = parse_sddl(
        "D:(OA;CI;RP;4c164200-20c0-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;AU)"
        "(XA;;FR;;;WD;(Member_of {SID(BA)}))S:AI(AU;SAFA;FA;;;WD)"
    )
    object_ace, conditional = sd.dacl.aces
    assert object_ace.type == "OA" and object_ace.object_guid.startswith("4c164200")
    assert conditional.resource_attribute == "(Member_of {SID(BA)})"
    assert sd.sacl.flags == ("AI",) and sd.sacl.aces[0].flags == ("SA", "FA")


def test_null_and_absent_dacl():
    assert parse_sddl("O:SYD:NO_ACCESS_CONTROL").dacl.is_null
    assert parse_sddl("O:SYG:SY").dacl is None
    assert parse_sddl("D:").dacl == Acl((), ())


@pytest.mark.parametrize(
    ("alias", "sid"),
    [
        ("WD", "S-1-1-0"),
        ("AU", "S-1-5-11"),
        ("NU", "S-1-5-2"),
        ("SY", "S-1-5-18"),
        ("BA", "S-1-5-32-544"),
        ("BU", "S-1-5-32-545"),
        ("DC", f"{DOMAIN}-515"),
        ("DU", f"{DOMAIN}-513"),
        ("DA", f"{DOMAIN}-512"),
        ("s-1-5-21-9-8-7-500", "S-1-5-21-9-8-7-500"),
    ],
)
def test_resolve_sid(alias, sid):
    assert resolve_sid(alias, DOMAIN) == sid


def test_domain_relative_alias_needs_the_domain_sid():
    assert resolve_sid("DC", None) is None and resolve_sid("EA", DOMAIN) is None


@pytest.mark.parametrize(
    "text",
    [
        "D:(A;;FA;;SY)",  # five fields
        "D:(Q;;FA;;;SY)",  # unknown type
        "D:(A;XX;FA;;;SY)",  # unknown flag
        "D:(A;;ZZ;;;SY)",  # unknown right
        "D:(A;;FA;;;S-1-x)",  # bad SID
        "D:(A;;FA;;;SY",  # unbalanced
        "O:BAO:SY",  # owner twice
        "X:BA",  # unknown component
        "D:Q(A;;FA;;;SY)",  # bad ACL flag
    ],
)
def test_malformed_strings_are_refused(text):
    with pytest.raises(SddlError):
        parse_sddl(text)


sids = st.one_of(
    st.sampled_from(["WD", "AU", "NU", "SY", "BA", "BU", "DC", "DU", "CO"]),
    st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5).map(lambda parts: "S-1-5-" + "-".join(map(str, parts))),
)
aces = st.builds(
    Ace,
    type=st.sampled_from(["A", "D", "OA", "OD", "AU"]),
    flags=st.lists(st.sampled_from(ACE_FLAGS), max_size=4, unique=True).map(tuple),
    mask=st.integers(0, 2**32 - 1),
    trustee=sids,
    object_guid=st.sampled_from(["", "bf967aba-0de6-11d0-a285-00aa003049e2"]),
)
acls = st.builds(
    Acl,
    flags=st.lists(st.sampled_from(["P", "AI", "AR"]), unique=True).map(tuple),
    aces=st.lists(aces, max_size=6).map(tuple),
)
descriptors = st.builds(
    SecurityDescriptor,
    owner=st.none() | sids,
    group=st.none() | sids,
    dacl=st.none() | acls,
    sacl=st.none() | acls,
)


@given(descriptors)
def test_format_then_parse_round_trips(descriptor):
    assert parse_sddl(format_sddl(descriptor)) == descriptor


sddl_alphabet = st.sampled_from([*"OGDS:();AIPCUNX0123456789-abcdefxFRWY", "S-1-5-", "0x", "(A;;", ";;;WD)"])


@given(st.lists(sddl_alphabet, max_size=40).map("".join))
def test_malformed_input_raises_only_sddl_error(text):
    with contextlib.suppress(SddlError):  # any other exception fails the test
        parse_sddl(text)
