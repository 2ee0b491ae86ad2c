"""docs/datamover-format.md is enough to read a repository: an independent reader written from the
document alone (hashlib, hmac, json, struct, zstandard, blake3, cryptography; no engine code) restores a
disk of a plain and of an encrypted repository, and of an incremental whose chunk list has patches."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from pathlib import Path

import blake3
import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from datamover_fakes import make_image


def _aead(cipher, key):
    return AESGCM(key) if cipher == "aes-256-gcm" else ChaCha20Poly1305(key)


def _open(cipher, key, sealed, associated):
    return _aead(cipher, key).decrypt(sealed[:12], sealed[12:], associated)


def _kek(key, passphrase):
    salt = base64.b64decode(key["salt"])
    if key["kdf"] == "scrypt":
        return hashlib.scrypt(
            passphrase.encode(), salt=salt, n=key["n"], r=key["r"], p=key["p"], maxmem=1 << 28, dklen=32
        )
    assert key["kdf"] == "argon2id"
    costs = {"iterations": key["iterations"], "lanes": key["lanes"], "memory_cost": key["memory_kib"]}
    return Argon2id(salt=salt, length=32, **costs).derive(passphrase.encode())


class DocReader:
    def __init__(self, root, passphrase=None):
        self.root = root
        self.config = json.loads(Path(os.path.join(root, "config")).read_bytes())
        assert self.config["version"] <= 1
        self.cipher = self.config["encryption"]
        self.data_key = self.id_key = None
        if self.cipher:
            key = json.loads(Path(os.path.join(root, "keys", "master.key")).read_bytes())
            kek = _kek(key, passphrase)
            master = _open(key["cipher"], kek, base64.b64decode(key["wrapped_key"]), b"backup.hyperv datamover key v1")
            self.data_key, self.id_key = master[:32], master[32:]
        self.index = {}
        named = set()
        for name in os.listdir(os.path.join(root, "index")):
            payload = self.envelope(os.path.join(root, "index", name))
            packs, _ignored = struct.unpack_from("<II", payload)
            ids = [payload[8 + 16 * i : 24 + 16 * i] for i in range(packs)]
            named.update(ids)
            for entry in struct.iter_unpack("<32sIQIII", payload[8 + 16 * packs :]):
                self.index[entry[0]] = (ids[entry[1]], *entry[2:])
        for sub in os.listdir(os.path.join(root, "packs")):
            for name in os.listdir(os.path.join(root, "packs", sub)):
                if bytes.fromhex(name[:32]) not in named:
                    self.scan_pack(os.path.join(root, "packs", sub, name))

    def scan_pack(self, path):
        data = Path(path).read_bytes()
        pack_id = data[12:28]
        _ignored, offset, length, _ignored, _ignored, digest = struct.unpack("<8sQQII32s", data[-64:])
        table = data[offset : offset + length]
        assert hashlib.sha256(table).digest() == digest
        if self.cipher:
            table = _open(self.cipher, self.data_key, table, pack_id)
        for entry in struct.iter_unpack("<32sQIII4s", table):
            self.index[entry[0]] = (pack_id, *entry[1:5])

    def envelope(self, path):
        data = Path(path).read_bytes()
        header, length = data[:32], struct.unpack_from("<Q", data, 16)[0]
        payload = data[32 : 32 + length]
        assert hashlib.sha256(data[: 32 + length]).digest() == data[32 + length :]
        flags = struct.unpack_from("<H", data, 10)[0]
        if flags & 1:
            payload = _open(self.cipher, self.data_key, payload, header)
        return zstandard.ZstdDecompressor().decompress(payload) if flags & 2 else payload

    def chunk_id(self, data):
        if self.config["hash"] == "blake3":
            return (blake3.blake3(data, key=self.id_key) if self.id_key else blake3.blake3(data)).digest()
        return hmac.new(self.id_key, data, hashlib.sha256).digest() if self.id_key else hashlib.sha256(data).digest()

    def chunk(self, chunk_id):
        pack_id, offset, stored, raw, flags = self.index[chunk_id]
        name = pack_id.hex()
        with open(os.path.join(self.root, "packs", name[:2], name + ".pack"), "rb") as handle:
            handle.seek(offset)
            data = handle.read(stored)
        if self.cipher:
            data = _open(self.cipher, self.data_key, data, chunk_id)
        if flags & 1:
            data = zstandard.ZstdDecompressor().decompress(data)
        assert len(data) == raw and self.chunk_id(data) == chunk_id
        return data

    def restore_first_disk(self, vm):
        points = sorted(n for n in os.listdir(os.path.join(self.root, "points")) if n.endswith(".point"))
        records = [json.loads(self.envelope(os.path.join(self.root, "points", n))) for n in points]
        point = [r for r in records if r["vm"] == vm][-1]
        chunk_file = os.path.join(self.root, "points", point["chunk_list"]["file"])
        assert hashlib.sha256(Path(chunk_file).read_bytes()).hexdigest() == point["chunk_list"]["sha256"]
        payload, position = self.envelope(chunk_file), 4
        disk = point["disks"][0]
        for _ignored in range(disk["stream"] + 1):
            size, chunk_size, kinds, ids_at = stream_at(payload, position)
            patches_at = ids_at + 32 * kinds.count(0)
            patches, position = read_patches(payload, patches_at, kinds.count(3))
        out = bytearray(size)
        for number, kind in enumerate(kinds):
            length = min(chunk_size, size - number * chunk_size)
            if kind == 0:
                data = self.chunk(payload[ids_at : ids_at + 32])
                ids_at += 32
            elif kind == 3:
                data = self.patched(patches.pop(0), length)
            else:
                continue
            assert len(data) == length
            out[number * chunk_size : number * chunk_size + length] = data
        return bytes(out)

    def patched(self, patch, length):
        base, extents = patch
        content = bytearray(self.chunk(base) if base is not None else bytes(length))
        for start, count, blob_offset, blob in extents:
            piece = self.chunk(blob)[blob_offset : blob_offset + count] if blob is not None else bytes(count)
            assert len(piece) == count and start + count <= length
            content[start : start + count] = piece
        return bytes(content)


def read_patches(payload: bytes, position: int, count: int) -> tuple:
    """``count`` patches from ``position`` as (base id or None, [(start, length, blob offset, blob id or None)]);
    and where the next stream starts."""
    patches = []
    for _ignored in range(count):
        has_base, extent_count = struct.unpack_from("<BH", payload, position)
        position += 3
        base = payload[position : position + 32] if has_base else None
        position += 32 if has_base else 0
        extents = []
        for _extent in range(extent_count):
            start, length, blob_offset, has_blob = struct.unpack_from("<IIIB", payload, position)
            position += 13
            blob = payload[position : position + 32] if has_blob else None
            position += 32 if has_blob else 0
            extents.append((start, length, blob_offset, blob))
        patches.append((base, extents))
    return patches, position


def stream_at(payload: bytes, position: int) -> tuple:
    """One stream's header, its kinds (one byte per chunk, from either encoding) and where its ids start."""
    size, chunk_size, encoding = struct.unpack_from("<QII", payload, position)
    count, position = -(-size // chunk_size), position + 16
    if encoding == 0:
        return size, chunk_size, payload[position : position + count], position + count
    assert encoding in (1, 2)
    (runs,) = struct.unpack_from("<Q", payload, position)
    table = [struct.unpack_from("<QB", payload, position + 8 + 9 * n) for n in range(runs)]
    kinds = b"".join(bytes([kind]) * length for length, kind in table)
    assert len(kinds) == count
    return size, chunk_size, kinds, position + 8 + 9 * runs


@pytest.mark.parametrize(
    ("passphrase", "encryption", "hash_algorithm", "kdf"),
    [
        (None, None, "blake3", "scrypt"),
        ("pw", "chacha20-poly1305", "sha256", "scrypt"),
        ("pw", "aes-256-gcm", "blake3", "scrypt"),
        ("pw", "aes-256-gcm", "blake3", "argon2id"),
    ],
)
def test_document_suffices_to_restore_a_disk(tmp_path, fake_disks, passphrase, encryption, hash_algorithm, kdf):
    disk = tmp_path / "d.raw"
    content = make_image(str(disk), 6 * (1 << 20) + 512, seed=11, hole_every=3)
    vmcx = tmp_path / "v.vmcx"
    vmcx.write_bytes(b"cfg")
    repo = str(tmp_path / "repo")
    fake_disks.backup(
        repo,
        "vm",
        [str(vmcx), str(disk)],
        passphrase=passphrase,
        encryption=encryption,
        hash_algorithm=hash_algorithm,
        block_size=1 << 18,
        kdf=kdf,
    )
    os.remove(os.path.join(repo, "index", os.listdir(os.path.join(repo, "index"))[0]))  # exercise pack scanning
    assert DocReader(repo, passphrase).restore_first_disk("vm") == content


def test_document_suffices_to_restore_an_incremental_with_patched_chunks(tmp_path, fake_disks):
    disk = tmp_path / "d.raw"
    make_image(str(disk), 6 * (1 << 20) + 300_000, seed=12, hole_every=3)  # a short last chunk of 300 kB
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm", [str(disk)], passphrase="pw", encryption="aes-256-gcm")
    ranges = [(100, 5000), (3 * (1 << 20) + 7, 70_000), (2 * (1 << 20) + 4096, 4096), (6 * (1 << 20) + 10, 400)]
    with open(disk, "r+b") as handle:
        for number, (offset, length) in enumerate(ranges):
            handle.seek(offset)
            handle.write(bytes(length) if number == 2 else os.urandom(length))
    result = fake_disks.backup(repo, "vm", [str(disk)], passphrase="pw", changed_ranges={"d.raw": ranges})
    assert result["incremental"]["d.raw"]["patched_chunks"] == 4
    assert DocReader(repo, "pw").restore_first_disk("vm") == disk.read_bytes()
