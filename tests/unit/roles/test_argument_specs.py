"""Every role's meta/argument_specs.yml agrees with its defaults/main.yml and names its variables after the role."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(
    path.name for path in (REPO_ROOT / "roles").iterdir() if (path / "meta" / "argument_specs.yml").is_file()
)


def load(role: str, relative: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "roles" / role / relative).read_text(encoding="utf-8")) or {}


def options(role: str) -> dict:
    return load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]


def test_the_collection_has_both_roles():
    assert {"managed_server", "offhost_proxy"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_each_spec_default_equals_defaults_main(role):
    defaults = load(role, "defaults/main.yml")
    for name, option in options(role).items():
        if "default" in option:
            assert name in defaults, f"{role}: {name} has a spec default but is not in defaults/main.yml"
            assert defaults[name] == option["default"], f"{role}: default of {name} differs"


@pytest.mark.parametrize("role", ROLES)
def test_every_defaults_variable_is_in_the_spec_with_its_default(role):
    spec = options(role)
    for name in load(role, "defaults/main.yml"):
        assert name in spec, f"{role}: {name} is in defaults/main.yml but not in the argument spec"
        assert "default" in spec[name], f"{role}: {name} has no default in the argument spec"


@pytest.mark.parametrize("role", ROLES)
def test_public_names_carry_the_role_prefix(role):
    for name in options(role):
        assert name.startswith(f"{role}_"), f"{role}: {name} lacks the prefix {role}_"


@pytest.mark.parametrize("role", ROLES)
def test_private_names_carry_the_double_underscore_prefix(role):
    path = REPO_ROOT / "roles" / role / "vars" / "main.yml"
    names = list(yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else []
    assert all(name.startswith(f"__{role}_") for name in names), names
    tasks = "".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "roles" / role).rglob("*.yml"))
    for token in set(tasks.replace("(", " ").replace(")", " ").replace("[", " ").replace("]", " ").split()):
        if token.startswith("__") and not token.startswith("__future"):
            assert token.startswith(f"__{role}_"), f"{role}: private name {token} lacks the prefix __{role}_"


@pytest.mark.parametrize("role", ROLES)
def test_required_options_have_no_default(role):
    for name, option in options(role).items():
        assert not (option.get("required") and "default" in option), f"{role}: {name} is required and has a default"


def test_secrets_are_no_log():
    spec = options("offhost_proxy")
    assert spec["offhost_proxy_vss_provider_array_password"].get("no_log") is True
