#!/usr/bin/python
# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module of the data mover: argument handling only; the work is done by module_utils/datamover."""

from __future__ import annotations

DOCUMENTATION = r"""
module: data_mover
short_description: Back up, restore, verify, list and prune Hyper-V VM disks in a deduplicating repository
version_added: 0.1.0
description:
  - Runs the C(backup.hyperv) data mover on the target host. It reads virtual disks (VHDX or raw) and VM files,
    splits them into fixed-size chunks, stores each distinct chunk once (compressed, optionally encrypted) in a
    repository directory, and records a restore point for the VM.
  - O(operation=backup) stores O(source) as a new restore point of O(vm), creating the repository when it does
    not exist yet. With O(changed_ranges) (Hyper-V resilient change tracking output) only those byte ranges are
    read; everything else is taken from the VM's previous restore point.
  - O(operation=restore) writes the disks and files of a restore point into O(destination).
  - O(operation=verify) reads back stored data and checks every chunk; the task fails when damage is found.
  - O(operation=list) returns the restore points. O(operation=prune) keeps the newest O(keep_last) restore
    points of each VM and removes the data nothing else uses.
  - O(operation=baselines) returns, for each VM of O(vms), its latest restore point and the RCT id it recorded
    for each disk (what the next incremental starts from). It only reads, without taking the repository lock.
  - O(operation=unlock) removes the repository's stale locks, those of runs that crashed or were cut off (the next
    run would remove them by itself). A live lock refuses it, naming its holder, unless O(force) is set.
  - O(operation=forget) removes the restore points named in O(restore_points) from the catalog (a damaged one
    too), under the exclusive lock prune takes; their data stays until the next O(operation=prune) reclaims what
    nothing else uses. An unknown id refuses the whole run before anything is removed.
  - O(operation=repair) rebuilds the index from the pack files (each carries its own entry table), reads every
    stored chunk back, drops damaged chunks and packs that are gone, and returns the restore points that lose
    data, naming the disk and the byte ranges. The next backup of the same content stores those chunks again.
  - O(operation=ls), O(operation=find) and O(operation=restore_file) read the files of a guest NTFS volume inside a
    restore point's disk (GPT or MBR partitions) straight from the repository, fetching only the chunks they
    need (file-level restore, no disk written out). They list a folder (names, sizes, times, attributes), find names
    matching a glob, or extract a file or a folder into O(destination) on the host that runs the data mover.
  - The same engine is available as the C(hyperv-datamover) command line (C(bin/hyperv-datamover) in the
    collection).
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [backup, restore, verify, list, baselines, prune, unlock, forget, repair, ls, find, restore_file]
  repository:
    description: Directory of the repository on the target host.
    type: path
    required: true
  vm:
    description:
      - Name of the VM the restore points belong to.
      - Required with O(source) (backup) and O(destination) (restore, restore_file); limits O(operation=verify),
        O(operation=list) and O(operation=prune) to this VM.
      - Not with O(jobs), whose entries name their VMs.
    type: str
  source:
    description:
      - Files to back up, in order. Virtual disks (C(.vhdx), C(.avhdx), raw images) and VM files such as
        C(.vmcx) and C(.vmrs). Disks are read through their allocation map; other files byte for byte.
      - Read from a shadow copy or a stopped VM; the files are opened read-only.
      - O(operation=backup) needs O(source) (with O(vm)) or O(jobs).
    type: list
    elements: path
  restore_point:
    description: Restore point to restore, verify or read files from, by id, or V(latest) for the newest one of O(vm).
    type: str
    default: latest
  destination:
    description:
      - Directory the restore writes the disks and files into.
      - O(operation=restore) needs O(destination) (with O(vm)) or O(jobs).
      - O(operation=restore_file) extracts the guest file or folder O(path) into this directory (created when
        missing). Guest names are made safe for the host (characters such as C(/), C(\), C(:), C(*) or C(?)
        become C(_)) and nothing is written outside it.
      - For O(operation=restore_file), a UNC path (C(\\server\share\folder)) writes onto a Windows host's folder
        through SMB as O(smb_username) (the Python package smbprotocol, on a data mover host that is not Windows);
        on Windows without O(smb_username), Windows opens it as the data mover's identity. The same refusals
        apply; a C(.) or C(..) in it is refused.
    type: path
  smb_username:
    description:
      - User (C(DOMAIN\user) or C(user@domain)) that O(operation=restore_file) writes a UNC O(destination) as.
    type: str
  smb_password:
    description: Password of O(smb_username).
    type: str
  smb_port:
    description: TCP port of the SMB server of a UNC O(destination).
    type: int
    default: 445
  format:
    description: Disk format the restore writes. V(raw) writes sparse raw images.
    type: str
    choices: [vhdx, raw]
    default: vhdx
  changed_ranges:
    description:
      - Byte ranges of each disk changed since the VM's previous restore point, as Hyper-V resilient change
        tracking reports them, keyed by the disk's path in O(source) (or its file name). Each value is a list of
        C({offset, length}) dictionaries (or C([offset, length]) pairs) in virtual-disk bytes, or a dictionary
        C({since, ranges, reason}).
      - C(since) is the RCT id the ranges start at. The ranges are then used only when the VM's latest restore
        point recorded exactly that id for the disk (see O(change_ids)); otherwise the disk is read in full and
        RV(incremental) says why. C(ranges=null) reads the disk in full, C(reason) saying why.
      - C(audit=true) reads the disk in full anyway and compares every chunk the ranges call unchanged with the
        baseline's; RV(incremental) then has C(rct_audit) (C(chunks_checked), C(chunks_missed),
        C(missed_offsets)) for the disk. The restore point is right whatever the ranges said.
      - Disks not named here are read in full (only new chunks are stored). When the VM has no previous
        restore point the ranges are ignored and the disks are read in full.
    type: dict
  change_ids:
    description:
      - The RCT id of each disk at the moment of the backup (the reference point Hyper-V made for it), keyed by
        the disk's path in O(source) or its file name. Recorded with the disk in the new restore point, where
        the next incremental's C(since) must find it. A disk not named records V(null).
    type: dict
  parents:
    description:
      - The parent files of each differencing disk in O(source) (a C(.avhdx), or a differencing C(.vhdx)), keyed by
        the disk's path in O(source) (or its file name), each a list of paths nearest first, as the host's
        C(Get-VHD) C(ParentPath) chain names them (the C(parents) of RV(backup.hyperv.shadow_copy#module:vm_files),
        mapped to the proxy). Each is read there instead of where the child's parent locator leads, and must still
        be the parent the child was made from (its data write GUID); below the last one given, the locator is
        followed.
      - Needed when a parent is on another volume than its child, whose shadow copy is another folder on the proxy.
    type: dict
  block_size:
    description:
      - Chunk size, in bytes or with a unit (V(256K), V(1M), V(8M)); a power of two from 256 KiB to 8 MiB.
        The default is 1 MiB.
      - Larger chunks are faster; smaller ones deduplicate and handle small changes better.
    type: raw
    default: 1048576
  compression:
    description: zstd compression of the chunks. V(fast) is level 1, V(default) level 3, V(high) level 9.
    type: str
    choices: [none, fast, default, high]
    default: default
  hash:
    description: Hash that names chunks, chosen when the repository is created.
    type: str
    choices: [blake3, sha256]
    default: blake3
  encryption:
    description:
      - Cipher of a repository created by this task; ignored for an existing repository, which keeps its own.
      - Any value other than V(none) needs O(passphrase).
    type: str
    choices: [none, aes-256-gcm, chacha20-poly1305]
  passphrase:
    description:
      - Passphrase of an encrypted repository. Keep it in Ansible Vault; it is never logged.
    type: str
  kdf:
    description:
      - How a repository created by this task derives its key from O(passphrase); ignored for an existing
        repository, whose key file names its own.
      - V(scrypt) (N=2^15, r=8, p=1) needs nothing more; V(argon2id) (64 MiB, 3 passes, 4 lanes, RFC 9106)
        needs C(cryptography) 44 or later.
    type: str
    choices: [scrypt, argon2id]
    default: scrypt
  keep_last:
    description: Number of newest restore points of each VM that O(operation=prune) keeps. Required for prune.
    type: int
  force:
    description:
      - Let O(operation=unlock) remove live locks too. Their run fails at its next write, having published nothing
        more; stop that run first if it may still be writing.
    type: bool
    default: false
  lock_timeout:
    description: Seconds to wait for another run's repository lock before failing.
    type: float
    default: 0
  overwrite:
    description:
      - Let O(operation=restore) and O(operation=restore_file) replace files that already exist in O(destination).
    type: bool
    default: false
  salvage:
    description:
      - Let O(operation=restore) of a damaged restore point write every chunk it can read, instead of failing at the
        first damaged one (naming the disk and the offset). The damaged ranges stay zero; each output that has one
        gets a marker file C(<output>.damaged.json) next to it naming the ranges, the result lists them in
        RV(damaged) and the task warns. Never start such disks as a whole VM.
    type: bool
    default: false
  rollback:
    description:
      - Let O(operation=restore) roll an existing disk in O(destination) back to the restore point (a quick
        rollback) - only the chunks whose content differs are written, found by hashing the existing file's chunks
        and comparing them with the restore point's chunk ids. The result is the same virtual content as a full
        restore; the file keeps its own disk id, type and block size.
      - Refused, before anything is written, when an existing disk differs in format (O(format)), virtual size or
        logical sector size, or is a differencing disk or a VHDX with a pending log; with O(overwrite), such a disk
        is restored in full over it instead, its output naming why in C(full_restore). A disk that does not exist
        yet is restored in full; VM files are replaced.
      - Each rolled-back output reports C(rollback) with bytes_compared, bytes_read, bytes_written,
        chunks_written and chunks_unchanged. Not with O(salvage).
    type: bool
    default: false
  restore_points:
    description: Ids of the restore points O(operation=forget) removes from the catalog (see O(operation=list)).
    type: list
    elements: str
  workers:
    description: Worker threads that read, hash, compress and encrypt chunks. Default is one per CPU core.
    type: int
  jobs:
    description:
      - Several VMs in one task, for O(operation=backup) and O(operation=restore). The repository is opened once
        for all of them (one passphrase unlock, one lock, one index load), which saves seconds per VM.
      - "Backup entries: C(vm), C(sources) (list of paths) and optionally C(changed_ranges), C(change_ids) and
        C(parents) (as O(changed_ranges), O(change_ids) and O(parents)).
        Restore entries: C(vm), C(destination), and optionally C(restore_point), C(format), C(overwrite),
        C(salvage) and C(rollback)."
      - The other options apply to every entry. Every entry is checked before anything is written.
      - A VM that fails publishes no restore point and the others still run; the task then fails, naming the
        failed VMs in RV(failed_vms), with every VM's outcome in RV(results).
      - Not with O(vm), O(source), O(destination), O(changed_ranges), O(change_ids) or O(parents).
    type: list
    elements: dict
  slots:
    description:
      - How many VMs of a backup O(jobs) are stored at once, in the one run (one repository open, one key unlock,
        one index load), sharing the O(workers). Each VM is still its own restore point; a VM that fails fails
        alone.
      - Chunks first met by two VMs running at the same time may be stored once for each of them (a VM
        deduplicates only against what is committed, so that no failing VM can take chunks another relies on).
    type: int
    default: 1
  vms:
    description: The VMs O(operation=baselines) describes; all the repository holds when omitted.
    type: list
    elements: str
  disk:
    description:
      - The disk, by file name in the restore point (as O(operation=list) shows), that O(operation=ls),
        O(operation=find) and O(operation=restore_file) read. Needed only when the restore point has several disks.
    type: str
  partition:
    description:
      - The partition number of the NTFS volume to read (GPT entry number, or MBR 1-4 and 5 on for logical
        partitions), as RV(partitions) lists them. Needed only when the disk holds several NTFS volumes.
    type: int
  path:
    description:
      - A path in the guest volume, such as C(\Users\ann\Documents) (C(/) separates too; any case matches).
      - O(operation=ls) lists this folder (or describes this file), O(operation=find) searches below it,
        O(operation=restore_file) extracts this file or folder with all it holds.
      - Junctions and symbolic links are listed but never followed.
    type: str
    default: '\'
  pattern:
    description:
      - The glob O(operation=find) matches names against (C(*), C(?), C([abc])), without regard to case.
        With a separator (C(Reports\*\q?.txt)) it matches the path below O(path) instead.
    type: str
  component:
    description:
      - On a Windows proxy, the name of the data mover component to run, when C(backup.hyperv.proxy_components)
        installed several (components whose C(role) is C(data_mover)). Without it the proxy's one data mover
        runs, and a proxy with several fails the task naming them.
      - The data mover is found by the record the install wrote on the proxy, not by any variable of a role.
      - Ignored on other connections, where the module runs the engine itself.
    type: str
  server_idle:
    description:
      - On a Windows proxy, hand the job to the component's job server and keep that server running this many
        seconds after the job, waiting for the next one. The server is a scheduled task of its own that runs the
        jobs handed to it one after another, started by the first job that asks for it; the jobs after it pay
        neither the engine's start nor the repository key's derivation. A server busy with another job leaves
        this one to a task of its own, so jobs are never queued behind each other.
      - C(0) hands the job to a waiting server, which ends with it (the last job of a backup run ends the server
        this way), and starts none when none waits.
      - Left out, and in check mode (a server writes files of its own on the proxy), the job runs as a task of
        its own.
      - C(playbooks/backup.yml) passes C(backup_data_mover_idle) (300) to its jobs and 0 to the last group's.
      - From 0 to 86400. Ignored on other connections, where the module runs the engine itself.
    type: int
  shadow_copy:
    description:
      - On a Windows proxy, with O(operation=backup), a transportable shadow copy set to import and expose on the
        proxy before the job and to release after it, in this task (what M(backup.hyperv.shadow_copy) does with
        V(imported) and V(absent)); the job's sources are paths under the set's exposed folder. One task instead of
        three, as each task costs the controller a process and the proxy a new WinRM shell.
      - Nothing is imported when an option of the job is refused. The release runs after the job whatever the job
        did, and after a failed import; a release that fails fails the task with the job's results kept and says
        how to release the set (RV(shadow_copy.released) is V(false)).
      - In check mode the import is planned and no job runs (nothing is exposed to read); nothing is released.
      - Refused on other connections (C(local), C(ssh)), and for a set of SMB3 shares, which the proxy reads where
        the file server exposes them.
      - C(playbooks/tasks/backup_group.yml) passes the volume group's set as the source host's
        M(backup.hyperv.group_snapshot) returned it.
    type: dict
    suboptions:
      snapshot_set_id:
        description: The set's id (a GUID), as the source host's shadow copy returned it.
        type: str
        required: true
      metadata:
        description: The set's metadata C(.cab), base64-encoded, as the source host exported it.
        type: str
        required: true
      shadow_copies:
        description: The set's shadow copies, each with its C(shadow_id) and its DiskShadow C(alias).
        type: list
        elements: dict
        required: true
        suboptions:
          shadow_id: {description: Shadow copy id., type: str, required: true}
          alias:
            description: DiskShadow alias (C(Vol1), C(Vol2), ...); names the copy's mount folder.
            type: str
            required: true
          volume: {description: Source volume (a share root for a copy of an SMB3 share)., type: str}
          exposed_path: {description: Where the set was planned to be exposed; informational., type: str}
      expose_root:
        description: Folder on the proxy under which the set's copies are exposed (backslashes; C(/) is refused).
        type: str
        default: C:\ProgramData\backup.hyperv\shadow
requirements:
  - python >= 3.8
  - zstandard
  - blake3 (for O(hash=blake3))
  - cryptography (for encrypted repositories)
  - dissect.ntfs (for O(operation=ls), O(operation=find) and O(operation=restore_file); Python 3.10 or later)
  - smbprotocol (for O(operation=restore_file) to a C(\\server\share) destination, on a data mover host that is
    not Windows)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - backup.hyperv.windows_path
attributes:
  check_mode:
    support: full
    details:
      - O(operation=backup) reads the sources and reports what would be stored, writing nothing.
      - O(operation=restore), O(operation=restore_file), O(operation=prune), O(operation=unlock),
        O(operation=forget) and O(operation=repair) report what they would write or remove.
  diff_mode:
    support: none
  platform:
    platforms: [posix, windows]
    details:
      - On a host reached over C(ansible.builtin.winrm) or C(ansible.builtin.psrp), the action plugin runs the data
        mover component that M(backup.hyperv.proxy_components) installed as a scheduled task; the start polls it in
        the same round trip and the poll that sees it end releases it, so a job that ends within a few seconds is
        one round trip, a longer one a poll every 5 seconds. The passphrase travels on standard input (inside the
        options document), then only in the job's folder until the engine has read it, never on a command line or
        in the environment.
      - Elsewhere (C(local), C(ssh)) it runs as a Python module where the task runs.
seealso:
  - name: Data mover guide
    description: Usage, incrementals with RCT, encryption and retention.
    link: https://example.invalid/backup/hyperv/docs/datamover.md
author:
  - backup.hyperv developers (@backup-hyperv)
"""

EXAMPLES = r"""
- name: Back up a VM from its shadow copy
  backup.hyperv.data_mover:
    operation: backup
    repository: /srv/backup/repo
    vm: web01
    source:
      - /mnt/shadow/web01/web01-os.vhdx
      - /mnt/shadow/web01/Virtual Machines/5C1F0E2A-4F2B-4E47-9D5B-2F1D6D9B8E10.vmcx
  register: backup

- name: Incremental backup reading only what RCT reported as changed
  backup.hyperv.data_mover:
    operation: backup
    repository: /srv/backup/repo
    vm: web01
    source: [/mnt/shadow/web01/web01-os.vhdx]
    changed_ranges:
      /mnt/shadow/web01/web01-os.vhdx:
        - {offset: 0, length: 1048576}
        - {offset: 536870912, length: 4194304}

- name: Encrypted repository, passphrase from Ansible Vault
  backup.hyperv.data_mover:
    operation: backup
    repository: /srv/backup/repo-encrypted
    vm: web01
    source: [/mnt/shadow/web01/web01-os.vhdx]
    encryption: aes-256-gcm
    passphrase: "{{ vault_datamover_passphrase }}"

- name: Back up every VM of this proxy in one task (one key unlock, one repository lock)
  backup.hyperv.data_mover:
    operation: backup
    repository: /srv/backup/repo
    passphrase: "{{ vault_datamover_passphrase }}"
    jobs:
      - vm: web01
        sources: [/mnt/shadow/web01/web01-os.vhdx]
        changed_ranges:
          /mnt/shadow/web01/web01-os.vhdx: [{offset: 0, length: 1048576}]
      - vm: sql01
        sources: [/mnt/shadow/sql01/sql01-os.vhdx, /mnt/shadow/sql01/sql01-data.vhdx]

- name: What the next incremental of web01 starts from (restore point, RCT id per disk)
  backup.hyperv.data_mover:
    operation: baselines
    repository: /srv/backup/repo
    vms: [web01]
  register: baselines

- name: Incremental with the RCT ranges since the id the repository recorded, recording the new id
  backup.hyperv.data_mover:
    operation: backup
    repository: /srv/backup/repo
    vm: web01
    source: [/mnt/shadow/web01/web01-os.vhdx]
    changed_ranges:
      web01-os.vhdx:
        since: "{{ baselines.baselines.web01.disks['web01-os.vhdx'].change_id }}"
        ranges: [[0, 1048576]]
    change_ids:
      web01-os.vhdx: "{{ new_rct_id }}"

- name: Restore the newest restore point as VHDX
  backup.hyperv.data_mover:
    operation: restore
    repository: /srv/backup/repo
    vm: web01
    destination: /srv/restore/web01

- name: List the root folder of web01's system volume in its latest restore point
  backup.hyperv.data_mover:
    operation: ls
    repository: /srv/backup/repo
    vm: web01
    disk: web01-os.vhdx
  register: listing

- name: Find every spreadsheet under the users' folders
  backup.hyperv.data_mover:
    operation: find
    repository: /srv/backup/repo
    vm: web01
    disk: web01-os.vhdx
    path: '\Users'
    pattern: '*.xlsx'

- name: Extract one folder of the guest into a folder of the data mover host
  backup.hyperv.data_mover:
    operation: restore_file
    repository: /srv/backup/repo
    vm: web01
    disk: web01-os.vhdx
    partition: 3
    path: '\Users\ann\Documents'
    destination: /srv/restore/ann

- name: Extract the same folder onto a Windows file server through SMB
  backup.hyperv.data_mover:
    operation: restore_file
    repository: /srv/backup/repo
    vm: web01
    path: '\Users\ann\Documents'
    destination: '\\fs1\restore\ann'
    smb_username: CONTOSO\svc-restore
    smb_password: "{{ vault_smb_password }}"

- name: Check every stored chunk
  backup.hyperv.data_mover:
    operation: verify
    repository: /srv/backup/repo

- name: Remove the lock of a proxy that was powered off mid-backup, without waiting for it to go stale
  backup.hyperv.data_mover:
    operation: unlock
    repository: /srv/backup/repo
    force: true

- name: Keep the seven newest restore points of each VM
  backup.hyperv.data_mover:
    operation: prune
    repository: /srv/backup/repo
    keep_last: 7
"""

RETURN = r"""
restore_point:
  description:
    - Id of the restore point written (backup) or read (restore, ls, find, restore_file). V(null) after a
      check-mode backup.
  returned: when O(operation) is V(backup), V(restore), V(ls), V(find) or V(restore_file)
  type: str
  sample: 20261124T220501.123456Z-3f2a9c1e
stats:
  description:
    - Counters of the run. In check mode, the backup's estimate of what it would read and store.
    - A restore reports the bytes it read from the repository and wrote.
    - O(operation=ls), O(operation=find) and O(operation=restore_file) report instead C(chunks_fetched) (chunks
      loaded from the repository), C(bytes_read) (their stored bytes read from pack files), C(bytes_fetched)
      (their plaintext) and C(bytes_catalog) (index files and chunk list read to locate them).
  returned: when O(operation) is V(backup), V(ls), V(find) or V(restore_file), or V(restore) outside check mode
  type: dict
  contains:
    bytes_read: {description: Bytes read from the sources (restore - from the repository)., type: int, returned: always}
    bytes_read_baseline:
      description:
        - Backup - bytes read from the repository (stored blobs) to rebuild chunks the changed ranges touch only in
          part, of which only the ranges are read from the source (a chunk stored as a patch reads nothing of the
          repository). V(0) on a restore.
      type: int
      returned: always
    bytes_logical: {description: Virtual size of the disks plus the size of the files., type: int, returned: always}
    bytes_stored: {description: Bytes newly written to the repository., type: int, returned: always}
    bytes_deduplicated: {description: Data bytes whose chunk was already stored., type: int, returned: always}
    bytes_zero: {description: Bytes of zero or unallocated chunks (never stored)., type: int, returned: always}
    chunks_new: {description: Chunks stored by this run., type: int, returned: always}
    chunks_reused: {description: Chunks found already stored., type: int, returned: always}
    duration: {description: Wall-clock seconds., type: float, returned: always}
    cpu_seconds: {description: CPU seconds used., type: float, returned: always}
  sample: {bytes_read: 1073741824, bytes_stored: 52428800, bytes_deduplicated: 1010827264, duration: 4.2}
disks:
  description:
    - The disks of the new restore point (name, source, format, virtual_size, chunk_size, ...), with C(change_id),
      the RCT id given in O(change_ids) (V(null) when none was).
  returned: when O(operation=backup)
  type: list
  elements: dict
files:
  description: The VM files of the new restore point (name, source, size).
  returned: when O(operation=backup)
  type: list
  elements: dict
incremental:
  description:
    - For each disk, how it was read (C(mode) V(full) or V(changed_ranges)), the C(baseline) restore point, the
      C(change_id) recorded, and C(fallback_reason), why a disk given changed ranges was read in full.
    - A file given changed ranges that is no disk the data mover reads by ranges (a legacy C(.vhd), kept as a file)
      has an entry too, C(mode) V(full) with the reason given for it (or the data mover's own).
    - With changed ranges, C(partial_chunks) counts the chunks read only in their ranges, C(patched_chunks) those
      of them stored as a patch (the pieces read laid over the baseline's chunk, nothing of it read or stored
      again; the others were rebuilt over the baseline's content), and C(partial_fallbacks) (C(chunks), C(offsets),
      C(reason)) names those whose baseline chunk failed its check and were read whole from the source.
  returned: when O(operation=backup)
  type: dict
  sample: {web01-os.vhdx: {mode: changed_ranges, baseline: 20261123T220501.123456Z-0b1c2d3e, change_id: "rct:7"}}
outputs:
  description:
    - The files the restore wrote (in check mode, would write), each with name, path, format and size.
    - A VHDX disk also has C(disk_id) (its virtual disk id, the source's when the restore point recorded it) and
      C(vhd_type) (V(fixed) or V(dynamic); a differencing source is restored as one dynamic disk), and a
      rolled-back disk (O(rollback)) C(rollback), what it compared, read and wrote; a disk O(rollback) with
      O(overwrite) restored in full C(full_restore), why it could not be rolled back.
    - O(operation=restore_file) - each folder and file written (in check mode, would write), with C(path) (guest),
      C(kind), C(size) and C(target) (host path).
  returned: when O(operation) is V(restore) or V(restore_file)
  type: list
  elements: dict
vm:
  description: The VM of the restored (or read) restore point.
  returned: when O(operation) is V(restore), V(ls), V(find) or V(restore_file)
  type: str
disk:
  description: The disk whose guest volume was read.
  returned: when O(operation) is V(ls), V(find) or V(restore_file)
  type: str
partition:
  description: The number of the partition whose NTFS volume was read.
  returned: when O(operation) is V(ls), V(find) or V(restore_file)
  type: int
partitions:
  description:
    - Every partition of the disk, with C(number), C(offset) and C(size) in bytes, C(scheme) (V(gpt), V(mbr), or
      V(whole) for a volume without a partition table), C(type) (GPT type GUID or MBR type byte, with its name
      when known), C(name) (GPT) and C(filesystem) (V(ntfs), or V(null) when not NTFS).
  returned: when O(operation) is V(ls), V(find) or V(restore_file)
  type: list
  elements: dict
path:
  description: The guest path listed, searched or extracted, as the volume spells it.
  returned: when O(operation) is V(ls), V(find) or V(restore_file)
  type: str
  sample: \Docs\Reports
entries:
  description:
    - The files and folders of O(path) in name order (or O(path) itself when it is a file), each with C(name),
      C(path), C(kind) (V(file), V(directory) or V(link) for a junction or symbolic link), C(size) in bytes,
      C(created), C(modified) and C(accessed) (ISO 8601, UTC, from C($STANDARD_INFORMATION)) and C(attributes)
      (V(readonly), V(hidden), V(system), V(archive), V(sparse), V(reparse_point), V(compressed), V(encrypted)).
  returned: when O(operation=ls)
  type: list
  elements: dict
  sample: [{name: q1.txt, path: "\\Docs\\q1.txt", kind: file, size: 5000, created: "2026-11-24T22:05:01+00:00",
    modified: "2026-11-24T22:05:01+00:00", accessed: "2026-11-24T22:05:01+00:00", attributes: [archive]}]
matches:
  description: The entries below O(path) that match O(pattern), depth first in name order, described as RV(entries).
  returned: when O(operation=find)
  type: list
  elements: dict
skipped:
  description: Guest paths O(operation=restore_file) left out, junctions and symbolic links (never followed).
  returned: when O(operation=restore_file)
  type: list
  elements: str
streams_not_restored:
  description:
    - The alternate data streams of the files O(operation=restore_file) extracted, as C(path:stream) (such as
      C(\Users\ann\setup.exe:Zone.Identifier)), which it does not write; a warning names them too.
  returned: when O(operation=restore_file)
  type: list
  elements: str
bytes_written:
  description: Bytes of file data O(operation=restore_file) wrote (0 in check mode).
  returned: when O(operation=restore_file)
  type: int
ok:
  description:
    - Whether verification found no damage, or O(operation=list) or O(operation=prune) no damaged restore point
      (the task fails otherwise, with the whole result).
  returned: when O(operation) is V(verify), V(list) or V(prune)
  type: bool
checked_chunks:
  description: Distinct chunks read back and re-hashed.
  returned: when O(operation=verify)
  type: int
damaged:
  description:
    - O(operation=verify) - each damaged chunk where it is used, with vm, restore_point, disk, offset, length,
      pack (V(null) when no pack holds it) and reason.
    - O(operation=list) - each restore point whose record cannot be read, with C(id) and C(reason); the other
      points are listed in RV(vms). O(operation=forget) removes it.
    - O(operation=prune) - each restore point whose record or chunk list cannot be read, with C(id), C(reason)
      and C(chunks_known) (its chunks were kept; when false, no chunk was collected at all).
    - O(operation=baselines) - each record that could not be read and was passed over, with C(id) and C(reason);
      every VM's baseline is its newest readable restore point.
    - O(operation=restore) with O(salvage) - each output that could not be written whole, with name, path,
      marker (the C(.damaged.json) file beside it), ranges (C([offset, length]) pairs left zero), bytes_lost and
      first_reason. Absent when the restore point was whole.
  returned: when O(operation) is V(verify), V(list), V(prune) or V(baselines), or a salvage restore met damage
  type: list
  elements: dict
points:
  description:
    - O(operation=verify) - each restore point checked, with vm, restore_point and C(state), V(intact),
      V(damaged) or V(unreadable) (its record or chunk list cannot be read; with C(reason)). A damaged one has
      C(parts), its disks and files that reference damaged or missing chunks with the byte C(ranges) lost, and
      C(shares_damage_with), the other restore points that use those chunks.
    - O(operation=repair) - the restore points that lose data after repair (damaged or unreadable), as above.
  returned: when O(operation) is V(verify) or V(repair)
  type: list
  elements: dict
forgotten:
  description: The restore points O(operation=forget) removed (in check mode, would remove), each with id and vm
    (V(null) when its record was damaged).
  returned: when O(operation=forget)
  type: list
  elements: dict
chunks_indexed:
  description: Chunks O(operation=repair) found whole and indexed (in check mode, would index).
  returned: when O(operation=repair)
  type: int
chunks_dropped:
  description: Chunks O(operation=repair) left out of the index because they did not read back whole (no whole
    copy elsewhere), each with chunk (its id) and reason (the pack and offset, and what failed).
  returned: when O(operation=repair)
  type: list
  elements: dict
packs_missing:
  description: Packs an index file named that are gone (O(operation=repair) drops their entries).
  returned: when O(operation=repair)
  type: list
  elements: str
packs_rewritten:
  description:
    - Packs O(operation=repair) rewrote (in check mode, would rewrite) because one of their chunks did not read
      back whole or their own entry table was damaged; their whole chunks moved to new packs and they were
      deleted, so that no pack's table still lists a damaged copy.
  returned: when O(operation=repair)
  type: list
  elements: str
packs_unreadable:
  description: Packs O(operation=repair) could not read, their own entry table damaged and no intact index file
    describing them, each with pack and reason. Their chunks are lost unless another pack holds them.
  returned: when O(operation=repair)
  type: list
  elements: dict
problems:
  description: Structural problems (index, packs, restore point records) found by verification.
  returned: when O(operation=verify)
  type: list
  elements: dict
vms:
  description:
    - For each VM, its restore points oldest first (id, time, disks, files, stats), and for each C(incremental),
      per disk how it was read (C(mode), C(baseline), C(fallback_reason), C(change_id)) as RV(incremental) says.
    - Each disk also has the C(change_id) (RCT id) recorded for it, V(null) when none was.
  returned: when O(operation=list)
  type: dict
baselines:
  description:
    - For each VM, its latest restore point as the next incremental's baseline, C(restore_point) and C(time)
      (both V(null) when the VM has none, or the repository does not exist yet), and C(disks), by disk file
      name, the C(change_id) recorded (V(null) when none was) and the virtual C(size) in bytes.
  returned: when O(operation=baselines)
  type: dict
  sample: {web01: {restore_point: 20261124T220501.123456Z-3f2a9c1e, time: "2026-11-24T22:05:01+00:00",
    disks: {web01-os.vhdx: {change_id: "rct:7", size: 42949672960}}}}
removed:
  description:
    - O(operation=prune) - the restore points it removed (in check mode, would remove), each with vm and id.
    - O(operation=unlock) - the locks it removed (in check mode, would remove), each with C(lock) (its file
      name), C(host), C(pid) and C(operation) of its holder, C(age) (seconds since the holder last refreshed it)
      and C(reason) (why it was stale, or V(removed with force)).
  returned: when O(operation) is V(prune) or V(unlock)
  type: list
  elements: dict
packs_deleted:
  description: Pack files prune deleted (in check mode, would delete) because nothing uses them.
  returned: when O(operation=prune)
  type: int
results:
  description:
    - With O(jobs), each VM's outcome in job order. A VM that succeeded has the keys a single-VM task returns,
      with C(failed=false); one that failed has C(failed=true) and C(msg).
  returned: when O(jobs) is given
  type: list
  elements: dict
  sample: [{vm: web01, failed: false, changed: true, restore_point: 20261124T220501.123456Z-3f2a9c1e}]
failed_vms:
  description: With O(jobs), the VMs that failed (the task fails when there is any).
  returned: when O(jobs) is given
  type: list
  elements: str
packs_repacked:
  description: Pack files prune rewrote (in check mode, would rewrite) because they were mostly garbage.
  returned: when O(operation=prune)
  type: int
shadow_copy:
  description:
    - With O(shadow_copy), the set the task imported and released around the job.
  returned: when O(shadow_copy) is given
  type: dict
  contains:
    snapshot_set_id: {description: The set's id as VSS prints it (lower case in braces)., type: str, returned: always}
    imported:
      description: Whether the import imported or exposed anything (V(false) when it was already there).
      type: bool
      returned: always
    exposed_path:
      description: The set's folder on the proxy (V(null) when the import failed).
      type: str
      returned: always
    released:
      description: Whether the set is released. V(false) after a release that failed (the task fails) and in check mode.
      type: bool
      returned: always
    release:
      description: What the release removed (mount folders, shadow copies); empty when nothing was left.
      type: dict
      returned: when the release succeeded
  sample: {snapshot_set_id: "{0f6a3a1e-6a43-4d8e-9a51-1c1d9b0c7e21}", imported: true, released: true}
connection_retries:
  description:
    - Round trips to the Windows host that lost their connection and were tried again (docs/backup.md,
      "When the connection drops"), each with C(script), C(error), C(attempt) and C(stage) (connect or run).
  returned: when a connection was retried
  type: list
  elements: dict
"""

import importlib
import traceback
from typing import Any, Iterator, Mapping, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.argspec import ARGUMENT_SPEC, VALIDATION
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.query import GUEST_OPERATIONS
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.operations import run
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.verdicts import damage_found


def needed_libraries(params: Mapping[str, Any]) -> Iterator[str]:
    """Third-party packages this task needs (the engine imports them lazily, so ask up front)."""
    yield "zstandard"
    if params["operation"] == "backup" and params["hash"] == "blake3":
        yield "blake3"
    if params["passphrase"] or params["encryption"] not in (None, "none"):
        yield "cryptography"
    if params["operation"] in GUEST_OPERATIONS:
        yield "dissect.ntfs"


def missing_library(params: Mapping[str, Any]) -> Optional[Tuple[str, str]]:
    for name in needed_libraries(params):
        try:
            importlib.import_module(name)
        except ImportError:
            return name, traceback.format_exc()
    return None


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **VALIDATION)
    missing = missing_library(module.params)
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])
    try:
        result = run(DataMoverOptions.from_params(module.params, check_mode=module.check_mode))
    except DataMoverError as err:
        module.fail_json(msg=str(err))
    damage = damage_found(module.params["operation"], result, module.params["repository"])
    if damage:
        module.fail_json(**dict(result, msg=damage))
    if result.get("failed_vms"):  # the job's other VMs are done; their results are in the task's
        failed = ", ".join(result["failed_vms"])
        module.fail_json(**dict(result, msg=f"{module.params['operation']} failed for VM {failed}"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
