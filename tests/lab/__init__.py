"""The lab: an emulator of Windows hosts for tests and demos, reached over WS-Management.

It is not part of the collection (galaxy.yml `build_ignore`s it) and production code never
imports it. The real connection plugins (`ansible.builtin.winrm` with pywinrm,
`ansible.builtin.psrp` with pypsrp) talk to it over loopback; see docs/lab.md.
Import it as the top-level package `lab` with `tests/` on sys.path (`PYTHONPATH=tests`).

The wings: `lab.wire` (WS-Management, WinRS and PSRP over HTTP), `lab.estate` (the estate file and
its Windows model), `lab.windows` (the emulated Windows parts: files, state, services, features,
storage, provisioning at `lab up`) and `lab.handlers` (what each collection script answers). The
modules at the top run the lab (`control`, `runtime`, `context`) and decide what a command runs
(`recognise`, then `collection`, `ansible_exec` or `modules`).
"""

from lab.checkout import put_collections_root_on_path

# Before any module of the lab: they import the collection's own definitions from this checkout.
put_collections_root_on_path()
