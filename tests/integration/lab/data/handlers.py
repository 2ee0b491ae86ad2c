"""Lab handlers for the lab's own tests (loaded with `lab up --handlers`)."""

from __future__ import annotations

from pathlib import Path

from lab.handlers import HandlerRegistry, ModuleCall, ScriptCall, ScriptFailure

LIBRARY = Path(__file__).resolve().parent.parent / "library"


def _echo(call: ScriptCall) -> dict[str, object]:
    if call.params.get("Text") == "fail":
        raise ScriptFailure("the test asked lab_echo to fail")
    return {"echo": call.params.get("Text"), "host": call.host.name, "role": call.host.facts.get("role")}


def _long(call: ScriptCall) -> dict[str, object]:
    return {"count": call.params.get("Count"), "host": call.host.name}


def _ps_module(call: ModuleCall) -> dict[str, object]:
    if call.args.get("fail"):
        raise ScriptFailure("the test asked lab_ps_module to fail")
    return {"changed": False, "ping": call.args.get("data", "pong"), "host": call.host.name}


def register(registry: HandlerRegistry) -> None:
    registry.add("lab_echo", _echo)
    registry.add("lab_long", _long)
    registry.add_module("ansible.legacy.lab_ps_module", _ps_module, LIBRARY / "lab_ps_module.ps1")
