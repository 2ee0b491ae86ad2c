"""The data mover's rooms show the flow: each imports only from the rooms below it, and no module circles back.

Floors, lowest first: ``base``; ``disk`` and ``store``; ``disk.vhdx`` (a disk format, on the disk
interface) and ``guest`` (the files inside a stored disk, on the store); ``run``; the faces (the package
itself: engine, cli, operations...). A room may import from its own floor's room and from any lower floor,
never from a higher one.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(REPO_ROOT / "tools"))

import import_graph  # noqa: E402

DATAMOVER = "plugins.module_utils.datamover"
FLOORS = {"base": 0, "disk": 1, "store": 1, "disk.vhdx": 2, "guest": 2, "run": 3, "": 4}


PACKAGES = {name for name, path in import_graph.modules_of(REPO_ROOT).items() if path.name == "__init__.py"}


def room(module: str) -> str:
    """``plugins.module_utils.datamover.disk.vhdx.reader`` -> ``disk.vhdx``; a face -> ``""``.

    A package (its ``__init__``) is its own room."""
    package = module if module in PACKAGES else module.rsplit(".", 1)[0]
    return package[len(DATAMOVER) + 1 :]


def datamover_graph() -> dict:
    graph = import_graph.module_graph(REPO_ROOT)
    inside = {name for name in graph if name == DATAMOVER or name.startswith(DATAMOVER + ".")}
    return {name: {target for target in graph[name] if target in inside} for name in inside}


def test_every_module_lives_in_a_known_room():
    assert {room(module) for module in datamover_graph()} == set(FLOORS)


def test_rooms_import_only_from_their_own_floor_or_below():
    upward = [
        f"{importer} -> {target}"
        for importer, targets in datamover_graph().items()
        for target in targets
        if room(target) != room(importer) and FLOORS[room(target)] >= FLOORS[room(importer)]
    ]
    assert upward == []


def test_no_module_circle():
    assert import_graph.circles(datamover_graph()) == []
