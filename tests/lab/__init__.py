"""The lab: an emulator of Windows hosts for tests and demos, reached over WS-Management.

It is not part of the collection (galaxy.yml `build_ignore`s it) and production code never
imports it. The real connection plugins (`ansible.builtin.winrm` with pywinrm,
`ansible.builtin.psrp` with pypsrp) talk to it over loopback; see docs/lab.md.
Import it as the top-level package `lab` with `tests/` on sys.path (`PYTHONPATH=tests`).
"""
