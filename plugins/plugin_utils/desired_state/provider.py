"""Desired state of a vendor VSS hardware provider (R11): argument spec, current state, plan.

Words: the *product* is the vendor's installed package as the registry's Uninstall key lists it
(by product id: the MSI ProductCode, or the key name an EXE installer registers); the *provider*
is what Windows lists in Win32_ShadowProvider under the provider's name; the *configuration* is
what the vendor's command-line tool was last told (controlling server, array user, the command
and its argument template), as the apply script recorded it in the registry marker
``HKLM:\\SOFTWARE\\backup.hyperv\\VssProviders\\<name>``. The password is never recorded.

Windows has no query for transportable support; only hardware providers can create
transportable shadow copies (https://learn.microsoft.com/windows/win32/vss/transportable-shadow-copies),
so the plan verifies that the provider is registered with type ``hardware``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import (
    Plan,
    PlanError,
    same_text,
    same_version,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError, check_windows_path

# Win32_ShadowProvider.Type (https://learn.microsoft.com/previous-versions/windows/desktop/vsswmi/win32-shadowprovider).
PROVIDER_TYPES = {0: "unknown", 1: "system", 2: "software", 3: "hardware"}
TEMPLATE_FIELDS = ("controlling_server", "array_user", "array_password")
_PRODUCT_CODE = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def provider_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.vss_provider`` (without the shared probe options)."""
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "package": {"type": "str"},
        "package_type": {"type": "str", "default": "auto", "choices": ["auto", "msi", "exe"]},
        "product_id": {"type": "str", "required": True},
        "version": {"type": "str"},
        "install_arguments": {"type": "str", "default": ""},
        "uninstall_arguments": {"type": "str", "default": ""},
        "config_command": {"type": "str"},
        "config_arguments": {"type": "str"},
        "config_password_stdin": {"type": "bool", "default": False},
        "controlling_server": {"type": "str"},
        "array_user": {"type": "str"},
        "array_password": {"type": "str", "no_log": True},
        "update_password": {"type": "str", "default": "on_create", "choices": ["always", "on_create"]},
    }


PROVIDER_REQUIRED_IF = [("state", "present", ("package", "version"))]
PROVIDER_REQUIRED_TOGETHER = [("config_command", "config_arguments")]
PROVIDER_REQUIRED_BY = {name: ("config_command",) for name in TEMPLATE_FIELDS}
HOST_PATH_OPTIONS = ("package", "config_command")  # files on the Windows host


def read_params(args: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of vss_provider_read.ps1."""
    return {"Name": args["name"], "ProductId": args["product_id"], "Package": args.get("package")}


def parse_provider_state(reply: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise the read script's reply (Windows property names) into the planner's state."""
    provider = reply.get("provider")
    product = reply.get("product")
    configuration = reply.get("configuration")
    package = reply.get("package")
    return {
        "provider": None
        if not provider
        else {
            "id": _text(provider.get("ID")),
            "name": _text(provider.get("Name")),
            "type": PROVIDER_TYPES.get(_int(provider.get("Type")), "unknown"),
            "version": _text(provider.get("Version")),
        },
        "product": None
        if not product
        else {
            "product_id": _text(product.get("ProductId")),
            "name": _text(product.get("DisplayName")),
            "version": _text(product.get("DisplayVersion")),
            "windows_installer": _int(product.get("WindowsInstaller")) == 1,
            "uninstall_command": _text(product.get("QuietUninstallString")) or _text(product.get("UninstallString")),
        },
        "configuration": None
        if not configuration
        else {
            "controlling_server": _text(configuration.get("ControllingServer")),
            "array_user": _text(configuration.get("ArrayUser")),
            "command": _text(configuration.get("Command")),
            "arguments": _text(configuration.get("Arguments")),
        },
        "package_exists": None if not package else bool(package.get("Exists")),
    }


def plan_provider(current: Mapping[str, Any], args: Mapping[str, Any]) -> Plan:
    """Steps that take the host from ``current`` to what ``args`` ask; no steps when it is there."""
    validate_provider_args(args)
    before = view(current)
    if args["state"] == "absent":
        return _plan_absent(current, args, before)
    return _plan_present(current, args, before)


def view(state: Mapping[str, Any]) -> dict[str, Any]:
    """What diff mode shows: the state without the planner-only ``package_exists``."""
    return {key: state.get(key) for key in ("provider", "product", "configuration")}


def validate_provider_args(args: Mapping[str, Any]) -> None:
    """Checks the argument spec cannot express; raises PlanError naming the option."""
    _check_host_paths(args)
    if "\\" in args["name"] or not args["name"].strip():
        raise PlanError(f"name: {args['name']!r} is not a provider name (empty, or holds a backslash)")
    if args["state"] == "present" and package_type(args) == "msi" and not _PRODUCT_CODE.match(args["product_id"]):
        raise PlanError(
            f"product_id: an MSI product code looks like {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}}, "
            f"got {args['product_id']!r}"
        )
    if "\\" in args["product_id"]:
        raise PlanError(f"product_id: {args['product_id']!r} is not an Uninstall key name (holds a backslash)")
    template = args.get("config_arguments")
    if template is None:
        return
    unknown = sorted({name for name in _PLACEHOLDER.findall(template) if name not in TEMPLATE_FIELDS})
    if unknown:
        known = ", ".join(TEMPLATE_FIELDS)
        raise PlanError(f"config_arguments: unknown placeholder(s) {', '.join(unknown)}; use {known}")
    for name in _PLACEHOLDER.findall(template):
        if not args.get(name):
            raise PlanError(f"config_arguments uses {{{name}}} but option {name} is not set")
    if args.get("config_password_stdin") and not args.get("array_password"):
        raise PlanError("config_password_stdin is true but option array_password is not set")


def _check_host_paths(args: Mapping[str, Any]) -> None:
    """Refuse a host path Windows would refuse or change (windows_path), naming the option."""
    for option in HOST_PATH_OPTIONS:
        if args.get(option) is None:
            continue
        try:
            check_windows_path(option, args[option])
        except WindowsPathError as exc:
            raise PlanError(str(exc)) from exc


def package_type(args: Mapping[str, Any]) -> str:
    """'msi' or 'exe': the option, or the package's file extension when it is 'auto'."""
    if args.get("package_type", "auto") != "auto":
        return args["package_type"]
    suffix = (args.get("package") or "").rpartition(".")[2].lower()
    if suffix in ("msi", "exe"):
        return suffix
    raise PlanError(f"package_type: cannot tell MSI from EXE by the name {args.get('package')!r}; set package_type")


def desired_configuration(args: Mapping[str, Any]) -> dict[str, Any] | None:
    """The configuration to record, or None when the task configures nothing."""
    if not args.get("config_command"):
        return None
    return {
        "controlling_server": args.get("controlling_server"),
        "array_user": args.get("array_user"),
        "command": args["config_command"],
        "arguments": args["config_arguments"],
    }


def _plan_present(current: Mapping[str, Any], args: Mapping[str, Any], before: dict[str, Any]) -> Plan:
    kind = package_type(args)
    product, provider = current.get("product"), current.get("provider")
    if provider and provider["type"] != "hardware":
        raise PlanError(
            f"Windows lists VSS provider {args['name']!r} as a {provider['type']} provider; "
            "only a hardware provider can create transportable shadow copies"
        )
    installed = bool(product) and same_version(product.get("version"), args["version"])
    steps: list[dict[str, Any]] = []
    if not installed or not provider:
        if current.get("package_exists") is False:
            raise PlanError(f"package: {args['package']} does not exist on the host")
        steps.append(
            {
                "action": "install_package",
                "path": args["package"],
                "type": kind,
                "product_id": args["product_id"],
                "arguments": args["install_arguments"],
                "reinstall": bool(product),  # same product id: an MSI minor upgrade or a repair
            }
        )
    wanted = desired_configuration(args)
    if wanted and (steps or not _same_configuration(current.get("configuration"), wanted) or _password_always(args)):
        steps.append(
            {
                "action": "configure_provider",
                "name": args["name"],
                "command": wanted["command"],
                "arguments": wanted["arguments"],
                "controlling_server": wanted["controlling_server"],
                "array_user": wanted["array_user"],
                "password_stdin": bool(args.get("config_password_stdin")),
            }
        )
    if steps:
        steps.append({"action": "verify_provider", "name": args["name"], "type": "hardware"})
    after = {
        "provider": _provider_after(
            provider, args["name"], installing=bool(steps) and steps[0]["action"] == "install_package"
        ),
        "product": _installed_product(product, args, kind) if not installed else dict(product),
        "configuration": wanted if wanted else current.get("configuration"),
    }
    return Plan(steps=steps, before=before, after=after)


def _plan_absent(current: Mapping[str, Any], args: Mapping[str, Any], before: dict[str, Any]) -> Plan:
    product = current.get("product")
    steps: list[dict[str, Any]] = []
    if current.get("provider") and not product:
        raise PlanError(
            f"Windows lists VSS provider {args['name']!r} but product {args['product_id']} is not installed; "
            "check product_id"
        )
    if product:
        step = {
            "action": "uninstall_package",
            "product_id": args["product_id"],
            "arguments": args["uninstall_arguments"],
        }
        if product["windows_installer"]:
            step.update(type="msi")
        elif product.get("uninstall_command"):
            step.update(type="exe", command=product["uninstall_command"])
        else:
            raise PlanError(f"product {args['product_id']} is not an MSI and its Uninstall key has no UninstallString")
        steps.append(step)
    if current.get("configuration"):
        steps.append({"action": "remove_configuration", "name": args["name"]})
    return Plan(steps=steps, before=before, after={"provider": None, "product": None, "configuration": None})


def _provider_after(provider: Mapping[str, Any] | None, name: str, installing: bool) -> dict[str, Any]:
    """The provider once verified; what an install changes (its version) is unknown until Windows says."""
    if provider and not installing:
        return dict(provider)
    return {"id": (provider or {}).get("id"), "name": name, "type": "hardware", "version": None}


def _installed_product(product: Mapping[str, Any] | None, args: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {
        "product_id": args["product_id"],
        "name": (product or {}).get("name"),
        "version": args["version"],
        "windows_installer": kind == "msi",
        "uninstall_command": (product or {}).get("uninstall_command"),
    }


def _same_configuration(recorded: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    if not recorded:
        return False
    return (
        same_text(recorded.get("controlling_server"), wanted["controlling_server"])
        and recorded.get("array_user") == wanted["array_user"]
        and same_text(recorded.get("command"), wanted["command"])
        and recorded.get("arguments") == wanted["arguments"]
    )


def _password_always(args: Mapping[str, Any]) -> bool:
    """update_password=always re-runs the tool: a password cannot be read back to compare."""
    return args.get("update_password") == "always" and bool(args.get("array_password"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
