"""The Wine rig: the packaged data mover run as Windows runs it (tests/integration/wine/README.md).

`WineRig` holds a Wine prefix with the test-only bcryptprimitives.dll shim in its system32, a drive letter
mapped to a scratch folder, and the package `make proxy-package` builds (built here when missing). `run`
starts `python.exe datamover.pyz ...` under wine64 with all three standard streams on pipes: the
embeddable CPython under Wine 8.0 refuses a file as stdout ("init_sys_streams: Invalid handle").
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT / "tools"))  # the package's tools: proxy_package, its bytecode and Wine helpers
from proxy_package_bytecode import (  # noqa: E402
    WINE_CANDIDATES,
    WINESERVER_CANDIDATES,
    ensure_prefix,
    found_tool,
    wine_environment,
)

MINGW_GCC = "x86_64-w64-mingw32-gcc"
MAPPED_DRIVE = "d:"


def proxy_package_tool() -> ModuleType:
    """tools/proxy_package.py as a module (tools/ is on sys.path: it imports its helpers from there)."""
    return importlib.import_module("proxy_package")


def built_package() -> Path:
    """The package folder of this version, built by tools/proxy_package.py when it is not there yet."""
    tool = proxy_package_tool()
    package = REPO_ROOT / "build" / "proxy-package" / tool.collection_version() / "package"
    if not (package / tool.SUMS).is_file():
        tool.build(package.parents[1], tool.collection_version())
    return package


class WineRig:
    def __init__(self, prefix: Path, drive_root: Path, package: Path) -> None:
        self.prefix, self.drive_root, self.package = prefix, drive_root, package
        self.wine = found_tool(WINE_CANDIDATES)
        self.environment = wine_environment(prefix)

    def start(self) -> None:
        """Create the prefix, put the shim in its system32 and map the drive letter to drive_root."""
        ensure_prefix(self.prefix)  # the package build's way: wineboot --init, then wait for the server
        shim = self.prefix / "drive_c" / "windows" / "system32" / "bcryptprimitives.dll"
        compile_shim = [found_tool((MINGW_GCC,)), "-shared", "-O2", "-o", str(shim)]
        subprocess.run([*compile_shim, str(HERE / "bcryptprimitives.c"), "-ladvapi32"], check=True)
        self.drive_root.mkdir(parents=True, exist_ok=True)
        (self.prefix / "dosdevices" / MAPPED_DRIVE).symlink_to(self.drive_root, target_is_directory=True)

    def local_path(self, windows: str) -> Path:
        """A `C:\\...` path as the file of the prefix's drive_c it is."""
        drive, _, rest = windows.partition(":\\")
        if drive.lower() != "c":
            raise ValueError(f"{windows} is not on drive C:")
        return self.prefix.joinpath("drive_c", *rest.split("\\"))

    def start_session(self, trace: Path, channels: str) -> None:
        """Keep the prefix's session (wineserver, services.exe) up until stop(), Wine's debug `channels` of it
        and of every service it starts going to `trace`: the processes a session starts inherit the standard
        error and WINEDEBUG of the program that starts it, here `sc query`."""
        subprocess.run([found_tool(WINESERVER_CANDIDATES), "--persistent"], env=self.environment, check=True)
        with trace.open("w") as stream:
            environment = {**self.environment, "WINEDEBUG": channels}
            command = [self.wine, "sc", "query", "RpcSs"]  # any program: it is what starts the session
            subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, stderr=stream, check=False)

    def windows(self, *command: str) -> subprocess.CompletedProcess[str]:
        """A program of the prefix (`sc`, `reg`, ...) run under wine64, its output as text."""
        return subprocess.run([self.wine, *command], capture_output=True, text=True, env=self.environment, check=False)

    def windows_path(self, local: Path) -> str:
        """`local` (under drive_root) as the mapped drive's Windows path."""
        relative = local.relative_to(self.drive_root)
        return MAPPED_DRIVE.upper() + "\\" + str(relative).replace("/", "\\")

    def python(self, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """The data mover component's `python.exe <arguments>`, its output as text."""
        command = [self.wine, str(self.package / "data_mover" / "python" / "python.exe"), *arguments]
        environment = {**self.environment, "PYTHONIOENCODING": "utf-8"}
        return subprocess.run(command, input=stdin, capture_output=True, text=True, env=environment, check=False)

    def data_mover(self, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`python.exe datamover.pyz <arguments>` of the package, as data_mover_run.ps1 starts it."""
        return self.python(str(self.package / "data_mover" / "datamover.pyz"), *arguments, stdin=stdin)

    def stop(self) -> None:
        subprocess.run([found_tool(WINESERVER_CANDIDATES), "--kill"], env=self.environment, check=False)
