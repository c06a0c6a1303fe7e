"""CSV files at the byte level, under pyarrow's reader (tables.py): the stream it reads, and file lines.

- `CsvInput`: the file as UTF-8 in reads that never cut a CRLF (a pyarrow bug, below), other encodings decoded.
- `record_lines`: the file line on which a data row starts, for messages (a quoted field may span lines).
- `undecodable`: where the file holds bytes that are not valid in its encoding, also in columns nobody reads.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np

READ_SIZE = 1 << 20  # bytes read from the file at a time, at least


class CsvInput(io.RawIOBase):
    """The CSV file as UTF-8 bytes for pyarrow, in reads that never end between the CR and the LF of a CRLF:
    pyarrow (25.0.1; apache/arrow#51368) drops the LF after a read ending in CR even inside a quoted field, so a
    quoted CRLF that straddles a block boundary loses a byte. Other encodings are decoded here, as pyarrow would."""

    def __init__(self, path: Path, encoding: str):
        super().__init__()
        self._file = open(path, "rb")
        utf8 = codecs.lookup(encoding).name == "utf-8"  # pyarrow itself skips a UTF-8 byte-order mark
        self._decoder = None if utf8 else codecs.getincrementaldecoder(encoding)()
        self._buffer, self._eof = b"", False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) <= size):
            chunk = self._file.read(max(size, READ_SIZE) if size >= 0 else -1)
            self._eof = not chunk
            if self._decoder is not None:
                chunk = self._decoder.decode(chunk, final=self._eof).encode("utf-8")
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        if 1 < size < len(self._buffer) and self._buffer[size - 1] == 13:  # a CR: keep it with what follows
            size -= 1
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        self._file.close()
        super().close()


def record_lines(path: Path, positions: list[int], quote_char: str, mark: str | None = None) -> dict[int, int]:
    """File line on which each data row (0-based position) starts. A row is not one line when a quoted field holds
    line breaks or blank lines are skipped, so the lines are counted up to the last row asked for: a record ends
    at a line break outside quotes (an even count of quote characters so far; doubled quotes count twice).
    `mark`: the codec of the file's byte-order mark; UTF-16/32 files are counted in decoded text, others in bytes
    with numpy (a Python loop over lines took 1.5 s per million rows)."""
    if mark is not None and mark != "utf-8":
        return _record_lines_text(path, positions, quote_char, mark)
    wanted, found = sorted(set(positions)), {}
    quote = quote_char.encode("utf-8")[0] if quote_char else -1
    parity, lines, offset, record, last_byte = 0, 0, 0, -2, 10  # record -1: the header
    end_at, end_line = -1, -1  # byte position and line-break number of the last record end (-1: file start)
    with open(path, "rb") as f:
        while len(found) < len(wanted) and (chunk := f.read(16 * READ_SIZE)):
            data = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(data == quote)
            breaks = np.flatnonzero(data == 10)
            outside = (np.searchsorted(quotes, breaks) + parity) % 2 == 0  # quotes before each break
            ends, numbers = offset + breaks[outside], lines + np.flatnonzero(outside)
            length = ends - np.concatenate([[end_at], ends[:-1]]) - 1  # bytes of each record before its break
            before = np.where(breaks[outside] > 0, data[np.maximum(breaks[outside] - 1, 0)], last_byte)
            kept = ~((length == 0) | ((length == 1) & (before == 13)))  # blank lines ("" or "\r") are skipped
            starts = (np.concatenate([[end_line], numbers[:-1]]) + 2)[kept]
            for w in wanted:
                if record < w <= record + len(starts):
                    found[w] = int(starts[w - record - 1])
            record += len(starts)
            parity = (parity + len(quotes)) % 2
            if len(ends):
                end_at, end_line = int(ends[-1]), int(numbers[-1])
            lines, offset, last_byte = lines + len(breaks), offset + len(data), int(data[-1])
    if record + 1 in wanted and offset - end_at - 1 > (last_byte == 13):  # a last row without a final line break
        found[record + 1] = end_line + 2
    return {p: found.get(p, p + 2) for p in positions}


def _record_lines_text(path: Path, positions: list[int], quote_char: str, codec: str) -> dict[int, int]:
    """`record_lines` of a UTF-16/32 file, line by line in decoded text."""
    wanted, found = set(positions), {}
    record, inside = -2, False
    with open(path, encoding=codec, newline="") as lines:
        for number, line in enumerate(lines, start=1):
            if not inside:
                if not line.strip("\r\n"):
                    continue
                record += 1
                if record in wanted:
                    found[record] = number
                    if len(found) == len(wanted):
                        break
            inside ^= bool(quote_char) and line.count(quote_char) % 2 == 1
    return {p: found.get(p, p + 2) for p in positions}


def undecodable(path: Path, encoding: str, delimiter: str, quote_char: str) -> tuple[int, int, str] | None:
    """(file line, 0-based field on that line, the line with U+FFFD for the bad bytes) of the first bytes that are
    not valid `encoding`, or None. The whole file is read: `validate` asks, also for columns the config skips."""
    decoder, line = codecs.getincrementaldecoder(encoding)(), 1
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                start = chunk.rfind(b"\n", 0, max(e.start, 0)) + 1
                end = chunk.find(b"\n", e.start)
                text = chunk[start:end if end >= 0 else len(chunk)].decode(encoding, errors="replace")
                row = next(csv.reader([text], delimiter=delimiter, quotechar=quote_char or None), [])
                field = next((i for i, value in enumerate(row) if "\ufffd" in value), 0)
                return line + chunk.count(b"\n", 0, start), field, text
            line += chunk.count(b"\n")
    return None
