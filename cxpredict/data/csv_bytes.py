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
    `mark`: the codec of the file's byte-order mark (UTF-16/32 files are counted in decoded text, others in bytes)."""
    wanted, found = set(positions), {}
    wide = mark is not None and mark != "utf-8"
    quote, ends = (quote_char, "\r\n") if wide else (quote_char.encode("utf-8"), b"\r\n")
    record, inside = -2, False  # the first record (-1) is the header
    with open(path, encoding=mark, newline="") if wide else open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not inside:
                if not line.strip(ends):
                    continue  # a blank line between records is skipped, as pyarrow does
                record += 1
                if record in wanted:
                    found[record] = number
                    if len(found) == len(wanted):
                        break
            inside ^= bool(quote) and line.count(quote) % 2 == 1
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
