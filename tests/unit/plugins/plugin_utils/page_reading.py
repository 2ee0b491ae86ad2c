"""Test helpers that read a rendered page back: its tables and paragraphs as text, and a PNG's pixels.

Shared by the HTML report tests (the page as written, and the DOM headless Chromium rendered from it).
"""

from __future__ import annotations

import struct
import zlib
from html.parser import HTMLParser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PageText(HTMLParser):
    """Tables by id (each row a list of cell texts, header rows included) and paragraphs as (class, text)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.paragraphs: list[tuple[str, str]] = []
        self.elements: list[str] = []
        self._table: str | None = None
        self._capture: list[str] | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append(tag)
        if tag == "table":
            self._table = attributes.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th", "p"):
            self._capture = []
            if tag == "p":
                self.paragraphs.append((attributes.get("class") or "", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._capture is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._capture))
            self._capture = None
        elif tag == "p" and self._capture is not None:
            css, _ignored = self.paragraphs[-1]
            self.paragraphs[-1] = (css, "".join(self._capture))
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._capture.append(data)

    def cell(self, table: str, row_header: str, column_header: str) -> str:
        """The text of ``table``'s cell in the row whose first cell is ``row_header``, under ``column_header``."""
        header, *rows = self.tables[table]
        row = next(row for row in rows if row[0] == row_header)
        return row[header.index(column_header)]


def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
    return (left, up, up_left)[distances.index(min(distances))]


def _unfilter(kind: int, line: bytearray, previous: bytes, channels: int) -> None:
    """Undo one scanline's PNG filter in place (PNG specification, section 9 "Filtering")."""
    if kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, previous))
        return
    for index in range(len(line)):
        left = line[index - channels] if index >= channels else 0
        up = previous[index]
        up_left = previous[index - channels] if index >= channels else 0
        predictor = {0: 0, 1: left, 3: (left + up) // 2, 4: _paeth(left, up, up_left)}[kind]
        line[index] = (line[index] + predictor) & 0xFF


def png_colours(data: bytes) -> tuple[int, int, set[tuple[int, ...]]]:
    """(width, height, the distinct RGB colours) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    position, compressed = 8, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _ignored, _ignored, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour_type, interlace) in ((8, 2, 0), (8, 6, 0)), (depth, colour_type, interlace)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            compressed += body
    raw, stride = zlib.decompress(compressed), width * channels
    previous, colours = bytes(stride), set()
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if raw[start]:
            _unfilter(raw[start], line, previous, channels)
        colours.update(zip(line[0::channels], line[1::channels], line[2::channels]))
        previous = bytes(line)
    return width, height, colours
