"""`hyperv-datamover run --options-file FILE`: the document is read, then deleted (it may hold the passphrase)."""

from __future__ import annotations

import io

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions


def test_run_options_file_reads_the_document_and_deletes_it(tmp_path):
    document = tmp_path / "options.json"
    options = DataMoverOptions.from_params({"operation": "list", "repository": str(tmp_path / "none")})
    document.write_text(options.to_json(), encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(["run", "--options-file", str(document)], environ={}, stdout=stdout, stderr=stderr)
    assert code == 1 and "no repository at" in stderr.getvalue()  # it ran the document's operation
    assert not document.exists()


def test_an_unreadable_options_file_fails_and_is_still_deleted(tmp_path):
    document = tmp_path / "options.json"
    document.write_bytes(b"\xff not json")
    stderr = io.StringIO()
    assert cli.main(["run", "--options-file", str(document)], environ={}, stdout=io.StringIO(), stderr=stderr) == 1
    assert not document.exists() and "not UTF-8" in stderr.getvalue()
