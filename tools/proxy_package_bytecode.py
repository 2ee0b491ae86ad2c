"""The data mover engine's bytecode for the package's own CPython, compiled by that CPython under wine64.

Why: the embeddable CPython's `._pth` file runs it isolated and without writing bytecode
(`sys.flags.dont_write_bytecode` is 1 there), and zipimport never writes any, so a `datamover.pyz` of sources
only is compiled again by every engine run on a proxy: every data mover job of every volume group
(docs/installs.md, "Bytecode"). A `.pyc` beside each `.py` in the archive is what zipimport loads instead
("zipimport", search order `.pyc` before `.py`: https://docs.python.org/3/library/zipimport.html). Bytecode
belongs to one CPython version (its magic number), so it is made by the package's CPython itself, run under
Wine, not by the Python that runs this build. The `.pyc` files are unchecked hash-based ones (PEP 552,
https://peps.python.org/pep-0552/): their header carries a hash of the source instead of a time stamp, so the
same sources give the same archive (the build is reproducible), and the loader does not read the source to
validate them; the `.py` files stay in the archive for tracebacks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Debian's wine64 package installs the loader here and puts nothing on PATH without the `wine` package.
WINE_CANDIDATES = ("wine64", "/usr/lib/wine/wine64")
WINESERVER_CANDIDATES = ("wineserver", "/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver")
_COMPILE = ["-m", "compileall", "-q", "-b", "--invalidation-mode", "unchecked-hash", "-j", "1"]


def found_tool(candidates: tuple[str, ...]) -> str:
    """The first of `candidates` that exists; SystemExit naming the package to install when none does."""
    found = next((shutil.which(name) for name in candidates if shutil.which(name)), None)
    if found is None:
        raise SystemExit(f"{candidates[0]} is missing: run `make system-deps` (bindep.txt's test or package profile)")
    return found


def wine_environment(prefix: Path) -> dict[str, str]:
    return {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": ""}


def ensure_prefix(prefix: Path) -> dict[str, str]:
    """A Wine prefix for the build (made once, kept in the build's cache); its environment."""
    environment = wine_environment(prefix)
    if not (prefix / "system.reg").is_file():
        prefix.parent.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([found_tool(WINE_CANDIDATES), "wineboot", "--init"], env=environment, capture_output=True)
        if run.returncode != 0:
            raise SystemExit(f"wineboot --init failed for {prefix}: {run.stderr.decode(errors='replace')[-500:]}")
        subprocess.run([found_tool(WINESERVER_CANDIDATES), "--wait"], env=environment, check=False)
    return environment


def windows_path(local: Path) -> str:
    """A local path as the Windows path Wine gives it (drive Z: is the root of the file system in a new prefix)."""
    return "Z:" + str(local.resolve()).replace("/", "\\")


def compiled(sources: dict[str, bytes], python_exe: Path, prefix: Path, archive: str) -> dict[str, bytes]:
    """{archive name of the `.pyc`: bytecode} of every `.py` in `sources`, compiled by `python_exe` under wine64.

    The code objects name their files `<archive>\\<name>` (compileall -d), not the scratch folder they were
    compiled in: the same sources give the same bytes. All three standard streams are pipes: the embeddable
    CPython under Wine refuses a file as stdout."""
    environment = ensure_prefix(prefix)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name, content in sources.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        command = [found_tool(WINE_CANDIDATES), str(python_exe), *_COMPILE, "-d", archive, windows_path(root)]
        run = subprocess.run(command, env=environment, input=b"", capture_output=True)
        if run.returncode != 0:
            output = (run.stdout + run.stderr).decode(errors="replace")[-2000:]
            raise SystemExit(f"the package's CPython could not compile the engine under wine64: {output}")
        result = {}
        for name in sources:
            if name.endswith(".py"):
                bytecode = root / (name[:-3] + ".pyc")
                if not bytecode.is_file():
                    raise SystemExit(f"compileall wrote no bytecode for {name}")
                result[name[:-3] + ".pyc"] = bytecode.read_bytes()
        return result
