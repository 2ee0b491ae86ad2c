"""The options object (settings.py): one set of defaults, three ways in, one document out and back.

The module's argument spec, the command line and the options object must agree on every default, and no
default may be written a second time in the package; the options document a Windows proxy gets must read
back into an equal object; the command line and the module must build the same object from the same
options; ``hyperv-datamover run --options -`` must run what the document says.
"""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.argspec import ARGUMENT_SPEC
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import SCHEMA, DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants

PACKAGE = Path(__file__).resolve().parents[5] / "plugins" / "module_utils" / "datamover"
# The option sets that use every defaulted option between them (the module's required ones given).
REQUIRED = {
    "backup": {"vm": "web01", "source": ["/vms/web01.vhdx"]},
    "restore": {"vm": "web01", "destination": "/restore"},
    "prune": {"keep_last": 2},
    "ls": {"vm": "web01"},
}
EXAMPLES = [
    ("backup", {"vm": "a", "source": ["/d/a.vhdx"], "changed_ranges": {"a.vhdx": [[0, 4096]]}, "block_size": "2M"}),
    ("backup", {"jobs": [{"vm": "a", "sources": ["/d/a.vhdx"], "changed_ranges": {"/d/a.vhdx": [[1, 2]]}}]}),
    (
        "backup",
        {"jobs": [{"vm": "a", "sources": ["/d/a.avhdx"], "parents": {"/d/a.avhdx": ["/v2/a.vhdx", "/v3/g.vhdx"]}}]},
    ),
    ("restore", {"vm": "a", "destination": "/out", "format": "raw", "overwrite": True, "passphrase": "pw"}),
    ("restore", {"jobs": [{"vm": "a", "destination": "/o/a"}, {"vm": "b", "destination": "/o/b", "format": "raw"}]}),
    ("verify", {"vm": "a", "restore_point": "latest", "lock_timeout": 5}),
    ("prune", {"keep_last": 3, "vm": "a", "workers": 2}),
    ("unlock", {"force": True}),  # what a Windows proxy gets for an unlock: force must travel
    ("find", {"vm": "a", "disk": "a.vhdx", "partition": 3, "path": "\\Users", "pattern": "*.docx"}),
    ("restore_file", {"vm": "a", "path": "\\Users\\ann", "destination": "C:\\out", "overwrite": True}),
    ("init", {"encryption": "chacha20-poly1305", "kdf": "argon2id", "hash": "sha256", "passphrase": "pw"}),
]


def test_every_argspec_default_is_the_options_objects_default():
    defaulted = {name: spec["default"] for name, spec in ARGUMENT_SPEC.items() if "default" in spec}
    assert defaulted  # the walk below compares something
    seen = set()
    for operation, required in REQUIRED.items():
        document = json.loads(
            DataMoverOptions.from_params(dict(required, operation=operation, repository="/r")).to_json()
        )
        for name in set(defaulted) & set(document):
            assert document[name] == defaulted[name], name
            seen.add(name)
    assert seen == set(defaulted)


def _literal_defaults(tree: ast.AST):
    """Literals written as a default: parameter defaults, annotated class fields, ``default=`` and ``"default":``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        elif (isinstance(node, ast.AnnAssign) and node.value is not None) or (
            isinstance(node, ast.keyword) and node.arg == "default"
        ):
            yield node.value
        elif isinstance(node, ast.Dict):
            yield from (
                v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant) and k.value == "default"
            )


def test_no_default_of_an_option_is_written_twice_in_the_package():
    defaults = {
        constants.DEFAULT_HASH,
        constants.DEFAULT_KDF,
        constants.DEFAULT_COMPRESSION,
        constants.LATEST,
        constants.RESTORE_FORMATS[0],
        constants.DEFAULT_CHUNK_SIZE,
        "1M",
    }
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "constants.py":
            continue
        for node in _literal_defaults(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value in defaults:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert found == []


@pytest.mark.parametrize(("operation", "params"), EXAMPLES)
def test_the_options_document_reads_back_into_an_equal_object(operation, params):
    options = DataMoverOptions.from_params(dict(params, operation=operation, repository="/r"), check_mode=True)
    document = options.to_json()
    assert json.loads(document)["schema"] == SCHEMA and json.loads(document)["check_mode"] is True
    assert DataMoverOptions.from_json(document) == options


def test_a_job_without_parents_writes_no_parents_key():
    """An engine from before ``parents`` refuses the key: a proxy not yet upgraded still runs the jobs it can."""
    jobs = [{"vm": "a", "sources": ["/d/a.vhdx"]}]
    document = json.loads(
        DataMoverOptions.from_params({"operation": "backup", "repository": "/r", "jobs": jobs}).to_json()
    )
    assert document["jobs"] == [{"vm": "a", "sources": ["/d/a.vhdx"], "changed_ranges": None, "change_ids": None}]


def test_a_document_of_another_schema_or_no_json_is_refused():
    document = json.loads(DataMoverOptions.from_params({"operation": "list", "repository": "/r"}).to_json())
    with pytest.raises(DataMoverError, match=f"schema {SCHEMA + 1}; this engine reads schema 1 and {SCHEMA}"):
        DataMoverOptions.from_json(json.dumps(dict(document, schema=SCHEMA + 1)))
    with pytest.raises(DataMoverError, match="not JSON"):
        DataMoverOptions.from_json("{")


@pytest.mark.parametrize(
    ("argv", "params"),
    [
        (["backup", "/r", "/d/a.vhdx", "--vm", "a", "--block-size", "512K"], {"vm": "a", "source": ["/d/a.vhdx"]}),
        (["restore", "/r", "/out", "--vm", "a", "--format", "raw"], {"vm": "a", "destination": "/out"}),
        (["verify", "/r", "--lock-timeout", "3"], {"lock_timeout": 3.0}),
        (["prune", "/r", "--keep-last", "2", "--dry-run"], {"keep_last": 2}),
        (["unlock", "/r", "--force", "--dry-run"], {"force": True}),
    ],
)
def test_the_command_line_and_the_module_build_the_same_options(argv, params):
    args = cli.build_parser().parse_args(argv)
    extra = {"block_size": "512K"} if "--block-size" in argv else {"format": "raw"} if "--format" in argv else {}
    module_params = {name: spec.get("default") for name, spec in ARGUMENT_SPEC.items()}  # as AnsibleModule fills
    module_params.update(params, **extra, operation=argv[0], repository="/r")
    expected = DataMoverOptions.from_params(module_params, check_mode="--dry-run" in argv)
    assert DataMoverOptions.from_args(args, None, None, None) == expected


def test_run_reads_the_document_on_stdin_and_prints_the_json_result(tmp_path):
    disk = tmp_path / "a.raw"
    disk.write_bytes(b"x" * 300_000)
    params = {"operation": "backup", "repository": str(tmp_path / "repo"), "vm": "a", "source": [str(disk)]}
    document = DataMoverOptions.from_params(dict(params, passphrase="pw", encryption="aes-256-gcm")).to_json()
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["run", "--options", "-"], environ={}, stdout=out, stderr=err, stdin=io.StringIO(document))
    assert status == 0, err.getvalue()
    result = json.loads(out.getvalue())
    assert result["stats"]["bytes_read"] == 300_000 and "pw" not in out.getvalue()
    listing = io.StringIO()
    environ = {cli.PASSPHRASE_ENV: "pw"}
    assert cli.main(["list", str(tmp_path / "repo"), "--json"], environ=environ, stdout=listing, stderr=err) == 0
    assert [point["id"] for point in json.loads(listing.getvalue())["vms"]["a"]] == [result["restore_point"]]
