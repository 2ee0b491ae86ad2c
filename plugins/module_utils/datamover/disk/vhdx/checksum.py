"""CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of VHDX headers, region tables and log entries.

Each of those structures carries its CRC-32C computed with its own checksum field zeroed (MS-VHDX 2.2.2,
2.2.3, 2.3.1.1). Long zero runs, most of a 64 KiB region table, are skipped algebraically.
"""

from __future__ import annotations

import re
import struct

_POLY = 0x82F63B78


def _make_table() -> tuple:
    table = []
    for byte in range(256):
        crc = byte
        for _ignored in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()
_ZERO_RUN = re.compile(b"\x00{256,}")


def _gf2_multiply(a: int, b: int) -> int:
    """Product of two reflected polynomials modulo the CRC polynomial."""
    product = 0
    mask = 1 << 31
    while mask:
        if a & mask:
            product ^= b
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
        mask >>= 1
    return product


def _power_table() -> tuple:
    """x^(8 * 2^k) mod P for k = 0..63: the operators that feed 2^k zero bytes through the register."""
    powers = []
    value = 1 << 23  # x^8 in reflected order
    for _ignored in range(64):
        powers.append(value)
        value = _gf2_multiply(value, value)
    return tuple(powers)


_ZERO_POWERS = _power_table()


def _skip_zeros(crc: int, count: int) -> int:
    """Register after `count` zero bytes, in O(log count) instead of O(count)."""
    k = 0
    while count:
        if count & 1:
            crc = _gf2_multiply(_ZERO_POWERS[k], crc)
        count >>= 1
        k += 1
    return crc


def _update(crc: int, data: bytes) -> int:
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc32c(data: bytes) -> int:
    """CRC-32C of `data`; long zero runs (most of a region table) are skipped algebraically."""
    crc = 0xFFFFFFFF
    position = 0
    for run in _ZERO_RUN.finditer(data):
        crc = _update(crc, data[position : run.start()])
        crc = _skip_zeros(crc, run.end() - run.start())
        position = run.end()
    return _update(crc, data[position:]) ^ 0xFFFFFFFF


def checksum_valid(block: bytes, checksum_offset: int = 4) -> bool:
    stored = struct.unpack_from("<I", block, checksum_offset)[0]
    zeroed = block[:checksum_offset] + b"\x00\x00\x00\x00" + block[checksum_offset + 4 :]
    return crc32c(zeroed) == stored


def with_checksum(block: bytes, checksum_offset: int = 4) -> bytes:
    zeroed = block[:checksum_offset] + b"\x00\x00\x00\x00" + block[checksum_offset + 4 :]
    return zeroed[:checksum_offset] + struct.pack("<I", crc32c(zeroed)) + zeroed[checksum_offset + 4 :]
