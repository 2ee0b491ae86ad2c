"""EstateError, and the small readers of the estate model: each checks one value and names its place when wrong."""

from __future__ import annotations

import hashlib
import re
from typing import Any

_SID = re.compile(r"^S-1-[0-9]+(-[0-9]+)*$")
_SIZE = re.compile(r"^(?P<number>[0-9]+)\s*(?P<unit>[KMGT]?)i?B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class EstateError(ValueError):
    """The estate file is not one the lab can play."""


class Where(str):
    """A place in the estate document, e.g. `hosts[1] (hv2).vms[0]`; `/` goes one level down."""

    def __truediv__(self, key: str) -> Where:
        if not self:
            return Where(key)
        return Where(f"{self}{key}" if key.startswith("[") else f"{self}.{key}")


def check_keys(entry: Any, where: Where, required: set[str], optional: set[str]) -> None:
    if not isinstance(entry, dict):
        raise EstateError(f"{where or 'estate'}: must be a mapping, got {type(entry).__name__}")
    missing = sorted(required - set(entry))
    if missing:
        raise EstateError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - required - optional)
    if unknown:
        raise EstateError(
            f"{where}: unknown keys: {', '.join(unknown)} (allowed: {', '.join(sorted(required | optional))})"
        )


def mapping(value: Any, where: Where) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EstateError(f"{where}: must be a mapping")
    return value


def sequence(value: Any, where: Where) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EstateError(f"{where}: must be a list")
    return value


def text(value: Any, where: Where) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise EstateError(f"{where}: must be a non-empty string, got {value!r}")
    return str(value)


def integer(value: Any, where: Where, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise EstateError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    return value


def optional_bool(value: Any, where: Where) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise EstateError(f"{where}: must be true or false, got {value!r}")
    return value


def sid(value: Any, where: Where) -> str:
    if not isinstance(value, str) or not _SID.match(value):
        raise EstateError(f"{where}: {value!r} is not a SID (S-1-...)")
    return value


def size(value: Any, where: Where) -> int:
    """Bytes from an integer or `4M`, `64MiB`, `2T`."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(str(value).strip())
    if not match or int(match["number"]) == 0:
        raise EstateError(f"{where}: {value!r} is not a size (bytes, or a number with K, M, G or T)")
    return int(match["number"]) * _UNITS[match["unit"].upper()]


def stable_number(seed: str, modulus: int) -> int:
    """A number derived from `seed` that stays the same between runs (ids, SIDs, serials)."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % modulus


def derived_sid(seed: str) -> str:
    """A domain or machine SID `S-1-5-21-a-b-c` derived from a name."""
    parts = [1_000_000_000 + stable_number(f"{seed}/{index}", 3_000_000_000) for index in range(3)]
    return "S-1-5-21-" + "-".join(str(part) for part in parts)
