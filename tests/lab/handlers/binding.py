"""PowerShell's parameter binding, as Windows PowerShell 5.1 applies it to a collection script's `param()` block.

The collection's bootstrap (`_pwsh.BOOTSTRAP`) splats the request's params onto the script (`& $s @p`), values as
`ConvertFrom-Json` made them. Before a handler sees them the lab binds them as PowerShell would, from the script's
own `param()` block: a request no script would accept fails here as on Windows, and the handler gets the values
the script would hold ([string] "", [int] 0, a scalar as a one-element array), a parameter left out its declared
literal default (none declared: it stays out), so a handler keeps no default of its own. Refused:
- a name the script does not declare, in an advanced script ([CmdletBinding()] or a [Parameter()] attribute):
  "A parameter cannot be found that matches parameter name 'Y'." (a simple script would take it into $args);
- a mandatory parameter missing, or $null, "" or @() for it, or for an element of its array, after conversion
  ($null for a [string] is "") (the message of each below; about_Functions_Advanced_Parameters, AllowNull,
  AllowEmptyString and AllowEmptyCollection, attributes no script here uses);
- a value the parameter's type refuses ([bool] takes only Boolean values and numbers, [int] a number);
- a [ValidatePattern()] the value does not match (case-blind, as PowerShell's default RegexOptions), a
  [ValidateSet()] it is not in (case-blind: the attribute's IgnoreCase is true by default), or a number outside a
  [ValidateRange(min, max)] (ValidateRangeAttribute's messages, ValidateRangeTooSmall and ValidateRangeTooLarge).
https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_functions_advanced_parameters
https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_splatting
https://github.com/PowerShell/PowerShell/blob/master/src/System.Management.Automation/engine/ParameterBinderBase.cs
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lab.handlers import ScriptCall, ScriptFailure

# The common parameters an advanced script takes besides its own (about_CommonParameters).
COMMON = frozenset(
    name.lower()
    for name in [
        *("Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable"),
        *("WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable"),
    ]
)
_NAME = re.compile(r"\$(?P<name>\w+)\s*(?:=\s*(?P<default>.*?))?\s*$", re.S)  # the variable, then its default
_ATTRIBUTE = re.compile(r"\[(?P<word>[\w.]+(?:\[\])?)\s*(?:\((?P<args>[^)]*)\))?\s*\]")


class BindingError(ScriptFailure):
    """The request fails before the script runs; `category` is the error record's CategoryInfo.Category."""

    def __init__(self, message: str, category: str = "InvalidData") -> None:
        super().__init__(message)
        self.category = category


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # lower case, without brackets: "string", "string[]", "object[]", "bool", "int"; "" when untyped
    mandatory: bool
    pattern: str | None  # [ValidatePattern()]
    default: str | None = None  # the default's text in the param() block
    choices: tuple[str, ...] = ()  # [ValidateSet()]
    limits: tuple[int, int] | None = None  # [ValidateRange()]


@dataclass(frozen=True)
class ParamBlock:
    parameters: dict[str, Parameter]  # by lower-case name
    advanced: bool


def _balanced(text: str, start: int) -> str:
    """The text inside the parentheses opening at `start`."""
    depth, quote = 0, ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    raise ValueError("param( is not closed")


def _entries(block: str) -> list[str]:
    """The block's top-level comma-separated entries."""
    entries, depth, start = [], 0, 0
    for index, char in enumerate(block):
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            entries.append(block[start:index])
            start = index + 1
    return [entry.strip() for entry in [*entries, block[start:]] if entry.strip()]


def _parameter(entry: str) -> Parameter:
    found = _NAME.search(entry)
    if not found:
        raise ValueError(f"cannot read the parameter {entry!r}")
    kind, mandatory, pattern, choices, limits = "", False, None, (), None
    for attribute in _ATTRIBUTE.finditer(entry[: found.start()]):
        word, args = attribute["word"].lower(), attribute["args"] or ""
        if word == "parameter":
            mandatory = bool(re.search(r"Mandatory\s*(=\s*\$true)?\s*(,|$)", args, re.I))
        elif word == "validatepattern":
            pattern = args.strip().strip("'\"")
        elif word == "validateset":
            choices = tuple(single or double for single, double in re.findall(r"'([^']*)'|\"([^\"]*)\"", args))
        elif word == "validaterange":
            low, high = (int(bound) for bound in args.split(","))
            limits = (low, high)
        elif attribute["args"] is None:
            kind = word
    return Parameter(found["name"], kind, mandatory, pattern, found["default"], choices, limits)


def param_block(script: str) -> ParamBlock | None:
    """The script's own `param()` block (before any function), or None when it has none."""
    code = "\n".join(line.split("#", 1)[0] for line in script.splitlines())
    found = re.search(r"^\s*param\s*\(", code, re.I | re.M)
    if not found or re.search(r"^\s*function\s", code[: found.start()], re.I | re.M):
        return None
    head = code[: found.start()]
    parameters = [_parameter(entry) for entry in _entries(_balanced(code, found.end() - 1))]
    advanced = "[cmdletbinding" in head.lower() or any(
        p.mandatory or p.pattern or p.choices or p.limits for p in parameters
    )
    return ParamBlock({p.name.lower(): p for p in parameters}, advanced)


def _net_type(value: Any) -> str:
    """The .NET type ConvertFrom-Json gives `value`."""
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        return "System.Int32" if -(2**31) <= value < 2**31 else "System.Int64"
    if isinstance(value, float):
        return "System.Double"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, dict):
        return "System.Management.Automation.PSCustomObject"
    return "System.String"


def _transform_failed(name: str, detail: str) -> BindingError:
    return BindingError(f"Cannot process argument transformation on parameter '{name}'. {detail}")


def _to_bool(name: str, value: Any) -> bool:
    # A [bool] parameter takes only Boolean values and numbers (not "true", not $null).
    if isinstance(value, (bool, int, float)):
        return bool(value)
    shown = "" if value is None else _net_type(value)
    raise _transform_failed(
        name,
        f'Cannot convert value "{shown}" to type "System.Boolean". Boolean parameters accept only Boolean values '
        "and numbers, such as $True, $False, 1 or 0.",
    )


def _to_int(name: str, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (bool, int)):
        return int(value)
    if isinstance(value, float):
        return round(value)  # PowerShell rounds half to even, as Python's round does
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    if isinstance(value, str):
        raise _transform_failed(
            name,
            f'Cannot convert value "{value}" to type "System.Int32". '
            'Error: "Input string was not in a correct format."',
        )
    shown = _net_type(value)
    raise _transform_failed(name, f'Cannot convert the "{shown}" value of type "{shown}" to type "System.Int32".')


def _to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return " ".join(_to_string(item) for item in value)  # $OFS
    if isinstance(value, dict):
        return "@{" + "; ".join(f"{key}={_to_string(item)}" for key, item in value.items()) + "}"
    return str(value)


def _convert(parameter: Parameter, value: Any) -> Any:
    """`value` as the parameter's type holds it."""
    kind = parameter.type
    if kind.endswith("[]"):
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        element = Parameter(parameter.name, kind[:-2], False, None)
        return [_convert(element, item) for item in items]
    if kind == "string":
        return _to_string(value)
    if kind in ("bool", "switch"):
        return _to_bool(parameter.name, value)
    if kind == "int":
        return _to_int(parameter.name, value)
    return value


def _check_mandatory(parameter: Parameter, value: Any, element: bool = False) -> None:
    """A mandatory parameter's converted value (PowerShell converts first: $null for a [string] is ""), and each
    element of an array but a value type's (ParameterBinderBase.ValidateNullOrEmptyArgument)."""
    name, kind = parameter.name, parameter.type[:-2] if element else parameter.type
    if value is None:
        raise BindingError(f"Cannot bind argument to parameter '{name}' because it is null.")
    if kind == "string" and value == "":
        raise BindingError(f"Cannot bind argument to parameter '{name}' because it is an empty string.")
    if kind.endswith("[]") and value == []:
        raise BindingError(f"Cannot bind argument to parameter '{name}' because it is an empty array.")
    for item in value if kind.endswith("[]") and kind[:-2] not in ("int", "bool") else []:
        _check_mandatory(parameter, item, element=True)


def _check_validators(parameter: Parameter, value: Any) -> None:
    """[ValidatePattern()], [ValidateSet()] and [ValidateRange()] on the value, or on each element of an array."""
    lowered = [choice.lower() for choice in parameter.choices]
    for item in value if isinstance(value, list) else [value]:
        text = _to_string(item)
        head = f"Cannot validate argument on parameter '{parameter.name}'. The argument \"{text}\""
        if parameter.pattern and not re.search(parameter.pattern, text, re.I):
            raise BindingError(
                f'{head} does not match the "{parameter.pattern}" pattern. Supply an argument that matches '
                f'"{parameter.pattern}" and try the command again.'
            )
        _check_range(parameter, item)
        if lowered and text.lower() not in lowered:
            raise BindingError(
                f'{head} does not belong to the set "{",".join(parameter.choices)}" specified by the ValidateSet '
                "attribute. Supply an argument that is in the set and then try the command again."
            )


def _check_range(parameter: Parameter, value: Any) -> None:
    if parameter.limits is None or not isinstance(value, int):
        return
    (low, high), head = (
        parameter.limits,
        f"Cannot validate argument on parameter '{parameter.name}'. The {value} argument",
    )
    if value < low:
        raise BindingError(
            f"{head} is less than the minimum allowed range of {low}. Supply an argument that is greater than or "
            f"equal to {low} and then try the command again."
        )
    if value > high:
        raise BindingError(
            f"{head} is greater than the maximum allowed range of {high}. Supply an argument that is less than or "
            f"equal to {high} and then try the command again."
        )


_NO_DEFAULT = object()


def _literal(text: str | None) -> Any:
    """The value of a default written as a literal, or _NO_DEFAULT for none or an expression the lab does not run."""
    if text is None:
        return _NO_DEFAULT
    words = {"$true": True, "$false": False, "$null": None, "@()": []}
    if text.lower() in words:
        return words[text.lower()]
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"'[^']*'|\"[^\"$`]*\"", text):
        return text[1:-1]
    return _NO_DEFAULT


def _defaults(block: ParamBlock, given: set[str]) -> dict[str, Any]:
    """The declared defaults of the parameters left out, as their types hold them."""
    found = {}
    for parameter in block.parameters.values():
        value = _literal(parameter.default)
        if parameter.name.lower() not in given and value is not _NO_DEFAULT:
            found[parameter.name] = _convert(parameter, value)
    return found


def _declared(block: ParamBlock, params: Mapping[str, Any]) -> dict[str, tuple[Parameter, Any]]:
    """Each request name with its parameter (names are case-blind); an advanced script refuses any other name."""
    found = {}
    for key, value in params.items():
        parameter = block.parameters.get(key.lower())
        if parameter is not None:
            found[key] = (parameter, value)
        elif block.advanced and key.lower() not in COMMON:
            raise BindingError(f"A parameter cannot be found that matches parameter name '{key}'.", "InvalidArgument")
    return found


def bind(script: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The request's params as the script's parameters hold them, by the script's own names; BindingError when
    PowerShell refuses them. A script without a param() block gets the params as they are."""
    block = param_block(script)
    if block is None:
        return dict(params)
    declared = _declared(block, params)
    given = {parameter.name.lower() for parameter, _value in declared.values()}
    missing = [p.name for p in block.parameters.values() if p.mandatory and p.name.lower() not in given]
    if missing:
        raise BindingError(
            f"Cannot process command because of one or more missing mandatory parameters: {' '.join(missing)}.",
            "InvalidArgument",
        )
    bound = {}
    for parameter, value in declared.values():
        converted = _convert(parameter, value)
        if parameter.mandatory:
            _check_mandatory(parameter, converted)
        if converted is not None:
            _check_validators(parameter, converted)
        bound[parameter.name] = converted
    return {**_defaults(block, given), **bound}


def bound_call(call: ScriptCall, script: str) -> ScriptCall:
    """`call` with its params bound to `script`'s param() block (BindingError, a ScriptFailure, when refused)."""
    return replace(call, params=bind(script, call.params))
