"""Documentation of how the modules that take Windows paths check them, and how to pass such paths.

The rule is ``plugins/plugin_utils/windows_path.py`` (``check_windows_path``); this fragment documents
that rule and nothing else, so the two change together.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - >-
    On a Windows host, paths are checked on the controller before anything reaches the host (the task fails and
    nothing changes): no control character (0-31), none of C(< > : " | ? *) in a name (the colon only as
    in C(C:)), no name ending in a space or a period, and no reserved device name such as C(NUL) or
    C(COM1.txt), as Microsoft's I(Naming Files, Paths, and Namespaces) describes.
  - >-
    Pass Windows paths on the command line in a vars file (C(-e @vars.yml)) or as JSON in single quotes
    (C(-e '{"restore_destination": "C:\\Restore\\vm1"}')), not as C(-e key=value): key=value text decodes
    C(\a \b \f \n \r \t \v) and C(\\), so C(C:\Restore\vm1) arrives as C(C:\Restore), a vertical tab and
    C(m1), and C(\\server\share) as C(\server\share).
"""
