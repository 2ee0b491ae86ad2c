"""The lab knows a collection script only as `_pwsh.load_script` sends it, its `#include` lines expanded
by the collection's own rule from the lab's script directories; an include those directories lack is
refused, naming it."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.collection import run_collection_request
from lab.context import SCRIPTS_DIR, HostContext
from lab.estate.loader import load_estate
from lab.handlers import HandlerRegistry, ScriptCall
from lab.handlers.binding import param_block

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import build_request, expand_includes


def included_names(path: Path) -> list[str]:
    """The scripts `path` names in its `#include` lines, found by the collection's own rule."""
    found: list[str] = []

    def record(name: str) -> bytes:
        found.append(name)
        return b""

    expand_includes(path.read_bytes(), record)
    return found


# Include files (the shared *_common.ps1, host_facts' facts_*.ps1 collectors) are never sent on their own:
# no handler answers them, the scripts that include them are run.
INCLUDED = {name for path in SCRIPTS_DIR.glob("*.ps1") for name in included_names(path)}
SCRIPTS = sorted(path.stem for path in SCRIPTS_DIR.glob("*.ps1") if path.stem not in INCLUDED)


def naming_host(call: ScriptCall) -> dict[str, str]:
    """A handler that says which script it answered: reaching it means the lab recognised the script."""
    return {"answered": call.name}


@pytest.fixture
def host(tmp_path: Path) -> HostContext:
    """px1 of the healthy estate, every script name answered by `naming_host`."""
    registry = HandlerRegistry()
    for name in [*SCRIPTS, "include_probe"]:
        registry.add(name, naming_host)
    context = ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path / "state").contexts["px1"]
    return dataclasses.replace(context, registry=registry)


def with_script_dir(context: HostContext, directory: Path) -> HostContext:
    config = dataclasses.replace(context.config, script_dirs=(*context.config.script_dirs, directory))
    return dataclasses.replace(context, config=config)


# A value each type of mandatory parameter binds ("0" * 32 also matches the data mover's job id pattern).
SAMPLES = {"string": "0" * 32, "string[]": ["x"], "object[]": [{}], "int": 0, "bool": False}


def mandatory_params(name: str) -> dict[str, object]:
    """Params that bind to the collection script `name`: its mandatory parameters, each with a sample value (the
    first of its [ValidateSet()] when it has one)."""
    block = param_block((SCRIPTS_DIR / f"{name}.ps1").read_text())
    return (
        {p.name: p.choices[0] if p.choices else SAMPLES[p.type] for p in block.parameters.values() if p.mandatory}
        if block
        else {}
    )


def answer(context: HostContext, name: str, body: bytes | None = None) -> tuple[int, dict]:
    """Exit code and reply (or the lab's errors) for a request to run `name`: as the collection sends it (with
    params that bind), or with `body`, a script the collection's directory does not hold."""
    if body is None:
        request = build_request(name, mandatory_params(name)).decode("ascii")
    else:
        request = json.dumps({"name": name, "script": base64.b64encode(body).decode("ascii"), "params": {}})
    outcome = run_collection_request(context, [request])
    return outcome.exit_code, json.loads(outcome.output[0]) if outcome.output else {"errors": outcome.errors}


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_collection_script_is_recognised_as_sent(host, name):
    assert answer(host, name) == (0, {"answered": name})


def test_a_script_may_include_a_shared_file_of_the_collection(host, tmp_path):
    body = b"param()\n#include process_common.ps1\nInvoke-Program -FilePath 'whoami.exe'\n"
    (tmp_path / "include_probe.ps1").write_bytes(body)
    sent = body.replace(b"#include process_common.ps1", (SCRIPTS_DIR / "process_common.ps1").read_bytes().rstrip())
    assert answer(with_script_dir(host, tmp_path), "include_probe", sent) == (0, {"answered": "include_probe"})


def test_an_include_the_lab_does_not_hold_is_refused(host, tmp_path):
    body = b"param()\n#include nowhere_common.ps1\n"
    (tmp_path / "include_probe.ps1").write_bytes(body)
    exit_code, reply = answer(with_script_dir(host, tmp_path), "include_probe", body)
    assert exit_code == 1
    assert reply == {
        "errors": ["lab: include_probe.ps1 includes nowhere_common.ps1, which is not in the lab's script directories"]
    }
