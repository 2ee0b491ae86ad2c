"""BackupHyperVInstaller.exe, the installer service's executable, built with mingw-w64 (tools/proxy_package.py).

The source is proxy/installer/launcher/launcher.c; the file gets the component's version as its version resource
("VERSIONINFO resource": https://learn.microsoft.com/windows/win32/menurc/versioninfo-resource), which host_facts
reads as the installer's version. mingw-w64 is a build dependency: bindep.txt's `package` profile
(`tools/install_system_deps.sh package`, run by `make proxy-package`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

LAUNCHER_SOURCE = Path(__file__).resolve().parents[1] / "proxy" / "installer" / "launcher" / "launcher.c"
LAUNCHER_NAME = "BackupHyperVInstaller.exe"
GCC, WINDRES = "x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32-windres"
# -mwindows: a GUI-subsystem program (a service has no console); no timestamp: the same sources give the same file.
GCC_OPTIONS = ("-municode", "-mwindows", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-Wl,--no-insert-timestamp")
RESOURCE = """1 VERSIONINFO
FILEVERSION {numbers}
PRODUCTVERSION {numbers}
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "backup.hyperv"
      VALUE "FileDescription", "Backup Hyper-V Installer Service"
      VALUE "FileVersion", "{text}"
      VALUE "OriginalFilename", "{name}"
      VALUE "ProductName", "backup.hyperv"
      VALUE "ProductVersion", "{text}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"""


def mingw(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise SystemExit(f"{tool} is missing: run `tools/install_system_deps.sh package` (bindep.txt)")
    return found


def version_numbers(version: str) -> list[str]:
    """`0.1.0` as the four numbers of a file version (0,1,0,0)."""
    numbers = [part for part in version.split(".") if part.isdigit()][:4]
    return numbers + ["0"] * (4 - len(numbers))


def build_launcher(folder: Path, version: str, python_dll: str) -> Path:
    """`folder`/BackupHyperVInstaller.exe, loading python\\`python_dll` beside it, with `version` as its version."""
    numbers = version_numbers(version)
    resource_text = RESOURCE.format(numbers=",".join(numbers), text=".".join(numbers), name=LAUNCHER_NAME)
    target = folder / LAUNCHER_NAME
    with tempfile.TemporaryDirectory() as scratch:
        resource, compiled = Path(scratch) / "version.rc", Path(scratch) / "version.o"
        resource.write_text(resource_text, encoding="ascii")
        subprocess.run([mingw(WINDRES), str(resource), "-O", "coff", "-o", str(compiled)], check=True)
        define = f'-DPYTHON_DLL=L"{python_dll}"'
        compile_launcher = [mingw(GCC), *GCC_OPTIONS, define, "-o", str(target), str(LAUNCHER_SOURCE), str(compiled)]
        subprocess.run([*compile_launcher, "-lshell32"], check=True)
    return target
