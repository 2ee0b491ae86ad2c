from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.filter.assign_proxies import assign_proxies


def test_largest_first_balances_bytes_per_slot():
    vms = [
        {"name": "a", "size": 400},
        {"name": "b", "size": 300},
        {"name": "c", "size": 200},
        {"name": "d", "size": 100},
    ]
    plan = assign_proxies(vms, [{"name": "px1", "slots": 1}, {"name": "px2", "slots": 1}])
    assert plan["px1"] == {"vms": ["a", "d"], "bytes": 500, "slots": 1}
    assert plan["px2"] == {"vms": ["b", "c"], "bytes": 500, "slots": 1}


def test_more_slots_take_more_load():
    vms = [{"name": f"vm{i}", "size": 100} for i in range(6)]
    plan = assign_proxies(vms, [{"name": "big", "slots": 2}, "small"])
    assert (len(plan["big"]["vms"]), len(plan["small"]["vms"])) == (4, 2)


def test_disk_sizes_add_up_and_eligibility_is_honoured():
    vms = [
        {"name": "sql", "disks": [{"size": 700}, {"size": 300}], "proxies": ["px2"]},
        {"name": "web", "size": 10},
    ]
    plan = assign_proxies(vms, ["px1", "px2"])
    assert plan["px2"]["vms"] == ["sql"] and plan["px2"]["bytes"] == 1000
    assert plan["px1"]["vms"] == ["web"]


@pytest.mark.parametrize(
    ("vms", "proxies", "message"),
    [
        ([{"name": "a", "size": 1}], [], "no proxies"),
        ([{"name": "a", "size": 1}], [{"name": "p", "slots": 0}], "at least 1"),
        ([{"name": "a", "size": 1}], ["p", "p"], "listed twice"),
        ([{"name": "a", "size": 1, "proxies": ["q"]}], ["p"], "unknown proxies q"),
        ([{"name": "a", "size": 1, "proxies": []}], ["p"], "no eligible proxy"),
    ],
)
def test_bad_input_is_refused_with_a_reason(vms, proxies, message):
    with pytest.raises(AnsibleFilterError, match=message):
        assign_proxies(vms, proxies)


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=10**12), max_size=40),
    slots=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=6),
)
def test_every_vm_lands_once_and_the_plan_is_near_optimal(sizes, slots):
    vms = [{"name": f"vm{i}", "size": size} for i, size in enumerate(sizes)]
    proxies = [{"name": f"px{i}", "slots": n} for i, n in enumerate(slots)]
    plan = assign_proxies(vms, proxies)
    assigned = [vm for entry in plan.values() for vm in entry["vms"]]
    assert sorted(assigned) == sorted(vm["name"] for vm in vms)
    assert sum(entry["bytes"] for entry in plan.values()) == sum(sizes)
    # Greedy bound: when a proxy took its last VM of size s, every proxy q had load_q >= L*slots_q - s,
    # so L <= (total + s*proxies) / slots <= ideal + largest (each proxy has at least one slot).
    ideal = sum(sizes) / sum(slots)
    largest = max(sizes, default=0)
    for entry in plan.values():
        assert entry["bytes"] / entry["slots"] <= ideal + largest + 1e-6
