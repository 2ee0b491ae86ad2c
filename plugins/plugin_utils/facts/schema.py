"""Load the ``hyperv_offhost`` facts schema and validate facts documents against it.

The schema (``hyperv_offhost.schema.json`` beside this file) is the written contract between the
PowerShell probe of ``backup.hyperv.host_facts`` and every consumer of its output. Validation
errors name the JSON path that is wrong, e.g. ``$.cluster.shared_volumes[0].luns``.
"""

from __future__ import annotations

import functools
import json
import pkgutil
from pathlib import Path
from typing import Any, Mapping

try:
    import jsonschema
except ImportError as exc:  # listed in requirements.txt; keep the import error for a clear message
    jsonschema = None
    JSONSCHEMA_IMPORT_ERROR: ImportError | None = exc
else:
    JSONSCHEMA_IMPORT_ERROR = None

SCHEMA_FILE = "hyperv_offhost.schema.json"
SUPPORTED_MAJOR = "1"


class FactsSchemaError(ValueError):
    """A facts document does not follow the schema; ``path`` is the JSON path of the first problem."""

    def __init__(self, path: str, message: str, host: str | None = None) -> None:
        self.path = path
        self.host = host
        where = f"{host}: " if host else ""
        super().__init__(f"{where}hyperv_offhost facts invalid at {path}: {message}")


@functools.cache
def load_schema() -> dict[str, Any]:
    """Return the schema document shipped with the collection."""
    # Ansible's collection loader serves package data; a plain namespace-package import does not.
    data = pkgutil.get_data(__package__, SCHEMA_FILE)
    if data is None:
        data = Path(__file__).with_name(SCHEMA_FILE).read_bytes()
    return json.loads(data)


@functools.cache
def _validator() -> Any:
    if jsonschema is None:
        raise ImportError(
            "backup.hyperv needs the Python package 'jsonschema' on the controller to validate facts"
        ) from JSONSCHEMA_IMPORT_ERROR
    return jsonschema.Draft202012Validator(load_schema())


def _check_version(document: Mapping[str, Any], host: str | None) -> None:
    version = document.get("schema_version")
    if not isinstance(version, str):
        raise FactsSchemaError("$.schema_version", "missing or not a string", host)
    if version.split(".", 1)[0] != SUPPORTED_MAJOR:
        reason = f"version {version!r} is not supported (this collection reads {SUPPORTED_MAJOR}.x)"
        raise FactsSchemaError("$.schema_version", reason, host)


def validate_facts(document: object, host: str | None = None) -> None:
    """Raise FactsSchemaError naming the first wrong JSON path; return None when the document is valid."""
    if not isinstance(document, Mapping):
        raise FactsSchemaError("$", f"expected an object, got {type(document).__name__}", host)
    _check_version(document, host)
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(error.absolute_path))
    if errors:
        first = errors[0]
        raise FactsSchemaError(first.json_path, first.message, host)
