"""A batch of scripts in one round trip: its command, its stdin, its reply decoded per script, its resend rule."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import resend_safe
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import (
    BATCH_BOOTSTRAP,
    BATCH_COMMAND,
    COMMAND,
    COMMAND_LINE_LIMIT,
    PWSH_PREFIX,
    ScriptError,
    build_batch_request,
    decode_batch_reply,
    load_script,
)

NAMES = ["change_tracking_release", "shadow_copy_release"]


def batch_reply(replies: object, rc: int = 0) -> dict[str, object]:
    return {"rc": rc, "stdout": json.dumps({"replies": replies}), "stderr": ""}


def failure(name: str) -> dict[str, object]:
    return {"failed": True, "name": name, "msg": "Access is denied.", "category": "PermissionDenied", "at": None}


def test_the_batch_command_carries_its_own_bootstrap_and_fits_the_command_line():
    assert BATCH_COMMAND.startswith(PWSH_PREFIX) and BATCH_COMMAND != COMMAND
    assert base64.b64decode(BATCH_COMMAND[len(PWSH_PREFIX) :]).decode("utf-16-le") == BATCH_BOOTSTRAP
    assert len(BATCH_COMMAND) < COMMAND_LINE_LIMIT


def test_the_batch_request_holds_each_script_and_its_params_in_order():
    line = build_batch_request([(NAMES[0], {"Release": []}), (NAMES[1], {"SnapshotSetId": "x"})], True)
    document = json.loads(line)
    assert line.endswith(b"\n") and document["stop"] is True
    assert [r["name"] for r in document["requests"]] == NAMES
    assert base64.b64decode(document["requests"][1]["script"]) == load_script(NAMES[1])
    assert document["requests"][0]["params"] == {"Release": []}


def test_each_script_gets_its_document_or_its_own_error():
    decoded = decode_batch_reply(NAMES, batch_reply([{"value": {"released": 2}}, failure(NAMES[1])]))
    assert decoded[0] == {"released": 2}
    assert isinstance(decoded[1], ScriptError) and decoded[1].name == NAMES[1]
    assert "Access is denied." in str(decoded[1])


def test_a_stopped_batch_ends_at_its_failure():
    decoded = decode_batch_reply(NAMES, batch_reply([failure(NAMES[0])]))
    assert len(decoded) == 1 and isinstance(decoded[0], ScriptError)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"rc": 1, "stdout": "", "stderr": "ConvertFrom-Json : Invalid JSON primitive"}, "Invalid JSON primitive"),
        (batch_reply([{"value": {}}]), "replied for 1 of 2 scripts without a failure"),
        (batch_reply([{"value": {}}] * 3), "no batch replies"),
        ({"rc": 0, "stdout": json.dumps({"other": 1}), "stderr": ""}, "no batch replies"),
    ],
)
def test_a_reply_that_is_not_a_batchs_fails_the_whole_batch(reply: dict[str, object], message: str):
    with pytest.raises(ScriptError, match=message) as caught:
        decode_batch_reply(NAMES, reply)
    assert caught.value.name == "+".join(NAMES)


def test_a_script_that_returned_nothing_is_its_own_error():
    decoded = decode_batch_reply(NAMES, batch_reply([{"value": None}, {"value": {"ok": True}}]))
    assert isinstance(decoded[0], ScriptError) and "no result" in decoded[0].msg and decoded[1] == {"ok": True}


@pytest.mark.parametrize(
    ("batch", "safe"),
    [
        ("change_tracking_release+shadow_copy_release", True),
        ("change_tracking_checkpoint+shadow_copy_read", False),  # a second checkpoint per VM
        ("shadow_copy_create+change_tracking_reference", False),
        ("shadow_copy_read", True),
    ],
)
def test_a_batch_is_sent_again_only_when_every_script_of_it_may_be(batch: str, safe: bool):
    assert resend_safe(batch) is safe
