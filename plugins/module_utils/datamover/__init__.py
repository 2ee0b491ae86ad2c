"""The data mover: deduplicating, compressing, encrypting backup of Hyper-V VM disks.

Rooms, each importing only from the ones below it:

- faces (this package): ``engine`` (the entry points), ``cli`` (``hyperv-datamover``), ``operations``
  (module-style parameters to the engine), ``argspec`` (with ``shadow_copy_options``, the shape of a shadow copy
  set the module and ``shadow_copy`` share), ``options`` and ``job_entries`` (what users write);
- ``run/``: one operation on an opened repository: ``session``, ``backup`` (over ``streams`` and
  ``plan``), ``restore``, ``verify``, ``prune``, ``jobs``, and the ``pipeline`` of worker threads;
- ``store/``: the repository on disk: ``repository``, ``pack``, ``index``, ``snapshot`` (chunk lists),
  ``catalog``, ``blob``, ``envelope``, ``crypto``, ``kdf``, ``hashing``, ``compress``, ``lock``,
  ``chunk_store`` (the write side of one backup) and the format ``constants``;
- ``disk/``: reading disks (``opener``, ``source``, ``extents``, ``raw``, ``vm_files``, ``vhdx/``) and
  writing restored ones (``outputs``, ``vhdx/writer``);
- ``guest/``: file-level restore inside a stored disk: the disk ``view``, ``partition`` tables, ``ntfs``
  volumes, ``locate`` and ``extract`` (the faces ``guest_files`` and ``cli_guest`` drive it);
- ``base/``: the errors every room raises, durable file steps and direct I/O.
"""
