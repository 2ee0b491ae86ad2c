"""Offline stand-in for the ``get-pip.py`` that ansible-test downloads for its sanity venvs.

ansible-test bootstraps pip into each empty sanity virtual environment with a script it
fetches from a host outside the package registries, which this project's machines cannot
reach. It caches that script as ``~/.ansible/test/cache/get_pip_<version>.py`` and runs it
with get-pip's arguments (pip install arguments plus ``--no-setuptools``/``--no-wheel``).
This stand-in does the same job from the registries: it seeds pip with the standard
library's ``ensurepip``, then lets that pip install the pinned packages from PyPI.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    environment = dict(os.environ)  # ensurepip points PIP_CONFIG_FILE at /dev/null; the install needs the real config
    ensurepip.bootstrap(upgrade=True)
    arguments = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY_FLAGS]
    completed = subprocess.run([sys.executable, "-m", "pip", "install", *arguments], env=environment, check=False)
    sys.exit(completed.returncode)


if __name__ == "__main__":
    main()
