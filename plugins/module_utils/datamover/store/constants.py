"""Format constants of the data mover repository: the one place that defines every number on disk.

FREEZE NOTE: every value here is part of repository format version 1. Changing one breaks the reading
of existing repositories; a change needs a new FORMAT_VERSION and a reader for the old one.

Magic numbers are derived, not invented: ``sha256(b"backup.hyperv datamover <name> v1")[:8]``
(test_constants.py recomputes them). All integers on disk are little-endian.
"""

from __future__ import annotations

import struct

# Repository format version written to ``config``. Readers refuse a repository with a greater one.
FORMAT_VERSION = 1
REPOSITORY_KIND = "backup.hyperv datamover repository"

# --- magic numbers: sha256(b"backup.hyperv datamover <name> v1")[:8] -------------------------------------------
PACK_MAGIC = b"\x17Y)s\x8aM\xb6\x13"  # "pack v1": first 8 bytes of every pack file
PACK_TRAILER_MAGIC = b"\xb9{\xcb|w\xf3\x9eQ"  # "pack trailer v1": start of the fixed trailer that ends a pack
INDEX_MAGIC = b"<\xae!\x1f>\xf4p\xaf"  # "index v1": envelope magic of index files
POINT_MAGIC = b"\xab` G\xd5v\xe7L"  # "restore point v1": envelope magic of restore point records
CHUNK_LIST_MAGIC = b"I\xfb\x17\xb3\xa5\x13\xd0\x06"  # "chunk list v1": envelope magic of chunk list files

# --- chunking ---------------------------------------------------------------------------------------------------
DEFAULT_CHUNK_SIZE = 1 << 20  # 1 MiB: Veeam's default; aligned with VHDX 1/2/32 MiB blocks
MIN_CHUNK_SIZE = 1 << 18  # 256 KiB
MAX_CHUNK_SIZE = 1 << 23  # 8 MiB
CHUNK_ID_SIZE = 32  # BLAKE3-256, SHA-256, keyed BLAKE3 and HMAC-SHA-256 are all 32 bytes

# Chunk list entry kinds (one byte per chunk in a chunk list).
KIND_DATA = 0  # stored chunk; its id follows in the id array
KIND_ZERO = 1  # all-zero bytes, nothing stored
KIND_UNALLOCATED = 2  # not allocated in the source disk (reads as zero), nothing stored
KIND_PATCHED = 3  # a base chunk (or zeros) with changed pieces laid over it (store/patches.py); its patch follows

# --- compression: name -> zstd level (0 = store uncompressed) --------------------------------------------------
COMPRESSION_LEVELS = {"none": 0, "fast": 1, "default": 3, "high": 9}

# --- hashing ------------------------------------------------------------------------------------------------------
HASH_ALGORITHMS = ("blake3", "sha256")

# --- encryption ---------------------------------------------------------------------------------------------------
CIPHERS = ("aes-256-gcm", "chacha20-poly1305")
NONCE_SIZE = 12  # both AEADs take a 96-bit nonce; random per sealed item
TAG_SIZE = 16  # both AEADs append a 128-bit tag
MASTER_KEY_SIZE = 64  # 32 bytes data key + 32 bytes chunk-id key
KDFS = ("scrypt", "argon2id")  # passphrase key derivations; the first is the default
SCRYPT_N = 1 << 15  # scrypt cost: ~0.1 s and 32 MiB per unlock on the target machines
SCRYPT_R = 8
SCRYPT_P = 1
ARGON2ID_MEMORY_KIB = 64 << 10  # Argon2id cost, RFC 9106's second recommendation: 64 MiB, 3 passes, 4 lanes
ARGON2ID_ITERATIONS = 3
ARGON2ID_LANES = 4
SALT_SIZE = 16

# --- packs --------------------------------------------------------------------------------------------------------
PACK_TARGET_SIZE = 32 << 20  # a pack is closed once it holds this many stored bytes (not on disk: packs vary)
MAX_PACKS_IN_FLUSH = 2  # closed packs being made durable at once; more wait (not on disk)
# packs a reader keeps open; more are opened for one read and closed (a backup filling partial chunks from a
# large repository's baselines, or a long restore, must not run out of file handles; not on disk)
MAX_OPEN_PACKS = 256
# Pack header: magic[8], version u16, flags u16, reserved[20] -> 32 bytes.
PACK_HEADER = struct.Struct("<8sHH20s")
PACK_HEADER_SIZE = 32
# Pack entry (one per blob, in the pack's entry table): id[32], offset u64, stored_len u32, raw_len u32,
# flags u32, reserved u32 -> 56 bytes.
PACK_ENTRY = struct.Struct("<32sQIII4s")
PACK_ENTRY_SIZE = 56
# Pack trailer: magic[8], table_offset u64, table_length u64, entry_count u32, reserved u32, table_digest[32].
PACK_TRAILER = struct.Struct("<8sQQII32s")
PACK_TRAILER_SIZE = 64
BLOB_FLAG_COMPRESSED = 1  # blob is a zstd frame (else stored raw)

# --- envelopes (index, restore point, chunk list files) -------------------------------------------------------
# Envelope header: magic[8], version u16, flags u16, reserved u32, payload_length u64, reserved[8] -> 32 bytes.
ENVELOPE_HEADER = struct.Struct("<8sHHIQ8s")
ENVELOPE_HEADER_SIZE = 32
ENVELOPE_DIGEST_SIZE = 32  # SHA-256 of header + payload, appended after the payload
ENVELOPE_FLAG_ENCRYPTED = 1
ENVELOPE_FLAG_COMPRESSED = 2
ENVELOPE_COMPRESSION_LEVEL = 3

# Index entry: id[32], pack number u32 (position in the index's pack table), offset u64, stored_len u32,
# raw_len u32, flags u32 -> 56 bytes. The pack table holds 16-byte pack ids.
INDEX_HEADER = struct.Struct("<II")  # pack_count u32, entry_count u32
INDEX_ENTRY = struct.Struct("<32sIQIII")
INDEX_ENTRY_SIZE = 56
PACK_ID_SIZE = 16

# Chunk list stream header: chunk_count u64, chunk_size u32, reserved u32.
STREAM_HEADER = struct.Struct("<QII")

# --- repository layout ------------------------------------------------------------------------------------------
CONFIG_FILE = "config"
KEY_FILE = "keys/master.key"
PACKS_DIR = "packs"
INDEX_DIR = "index"
POINTS_DIR = "points"
LOCKS_DIR = "locks"
TMP_DIR = "tmp"
PACK_SUFFIX = ".pack"
INDEX_SUFFIX = ".idx"
POINT_SUFFIX = ".point"
CHUNKS_SUFFIX = ".chunks"

# --- prune ------------------------------------------------------------------------------------------------------
REPACK_GARBAGE_RATIO = 0.5  # a pack whose stored bytes are more than half garbage is rewritten

# --- locking ------------------------------------------------------------------------------------------------------
LOCK_POLL_INTERVAL = 0.05

# --- defaults of a run's options (settings.py; not on disk, so outside the freeze) -------------------------------
# The module's argument spec, the command line and the options object all take their defaults from here.
DEFAULT_HASH = HASH_ALGORITHMS[0]
DEFAULT_KDF = KDFS[0]
DEFAULT_COMPRESSION = "default"
ENCRYPTIONS = ("none", *CIPHERS)  # "none": a plaintext repository
RESTORE_FORMATS = ("vhdx", "raw")  # the first is the default
LATEST = "latest"  # the restore point named by its VM's newest one
DEFAULT_LOCK_TIMEOUT = 0.0  # seconds to wait for a conflicting lock: fail at once
MAX_LOCK_TIMEOUT = 86400.0  # a day: a longer wait is a mistake (a crashed holder's lock is stale in minutes)
MAX_WORKERS = 256  # worker threads; each keeps chunks in flight, so memory grows with them
DEFAULT_SLOTS = 1  # VMs of a backup job stored at once in the one engine run
