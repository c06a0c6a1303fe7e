"""Fuzz the CSV reader (data/tables.py) against Python's csv module, block boundary by block boundary.

    python scripts/fuzz_csv.py --files 500 --seed 0     # prints {"files": 500, "differences": 0, ...}

Each generated file is valid CSV whose quoted fields hold line breaks (LF, CRLF, CR), doubled quotes,
delimiters and multi-byte characters; every byte of a quoted field within `NEAR` bytes of a read-block boundary
is one of those, so they fall at and around every boundary. The reader runs with a small block (tables.BLOCK_SIZE
set to 48-256 bytes: many boundaries per file, and fields longer than a block, which take the retry with larger
blocks), whole (read_table) and streamed (iter_table_batches), and must return exactly the rows Python's csv
module reads (an empty field is a missing value, data.read.na_values' default). Exit code 1 on any difference.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

NEAR = 2  # bytes either side of a boundary that hold a quote, line break or delimiter inside a quoted field
SPECIALS = ("\n", "\r\n", "\r", '""', "DELIM")
FILLER = "abcdefghij XYZ0123é€"  # é, €: two and three bytes in UTF-8 (one in cp1252)
ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-16", "cp1252")  # utf-16: with a byte-order mark


def tricky_csv(rng: random.Random, block: int) -> tuple[bytes, str, str]:
    """(file bytes, delimiter, encoding): 2-5 text columns, 5-60 rows, LF or CRLF row ends, sometimes no final
    newline. Boundaries are placed in the UTF-8 text the reader hands pyarrow, whatever the file's encoding."""
    delim = rng.choice([",", ";", "\t", "|"])
    end = rng.choice(["\n", "\r\n"])
    encoding = rng.choice(ENCODINGS)
    ncols = rng.randint(2, 5)
    specials = [s.replace("DELIM", delim).encode() for s in SPECIALS]
    filler = [c.encode() for c in FILLER]
    out = bytearray(delim.join(f"c{j}" for j in range(ncols)).encode() + end.encode())
    for _ in range(rng.randint(5, 60)):
        for j in range(ncols):
            if j:
                out += delim.encode()
            if rng.random() < 0.3:  # unquoted: no quote, delimiter or line break
                out += b"".join(rng.choices(filler, k=rng.randint(0, 8)))
                continue
            out += b'"'
            length = rng.randint(0, int(block * 2.5))  # some fields run over a whole block
            start = len(out)
            while len(out) - start < length:
                offset = len(out) % block
                out += rng.choice(specials if min(offset, block - offset) <= NEAR else filler)
            out += b'"'
        out += end.encode()
    if rng.random() < 0.3:
        out = out[: -len(end)]
    return bytes(out).decode("utf-8").encode(encoding), delim, encoding


def oracle_rows(path: Path, delim: str, encoding: str) -> list[list[str | None]]:
    """Python's csv module: the data rows, an empty field as None."""
    with open(path, encoding=encoding, newline="") as f:
        rows = list(csv.reader(f, delimiter=delim, quotechar='"'))
    return [[v if v != "" else None for v in row] for row in rows[1:]]


def _frame_rows(frame) -> list[list[str | None]]:
    return [[None if v is None or v != v else str(v) for v in row] for row in frame.itertuples(index=False)]


@contextmanager
def block_size(size: int):
    """tables.BLOCK_SIZE set to `size` for the duration (the reader's first block, and its retry ladder)."""
    from cxpredict.data import tables

    before = tables.BLOCK_SIZE
    tables.BLOCK_SIZE = size
    try:
        yield
    finally:
        tables.BLOCK_SIZE = before


def differences(path: Path, delim: str, encoding: str, block: int, batch: int) -> list[str]:
    """What read_table and iter_table_batches read differently from Python's csv module ([] when nothing)."""
    import pandas as pd

    from cxpredict.config import ReadOptions
    from cxpredict.data.tables import iter_table_batches, read_table
    from cxpredict.errors import InputError

    expected = oracle_rows(path, delim, encoding)
    read = ReadOptions(delimiter=delim, encoding=encoding)
    found = []
    with block_size(block):
        names = [f"c{j}" for j in range(len(expected[0]))]
        types = dict.fromkeys(names, "string")
        readers = {"read_table": lambda: read_table(path, read, column_types=types),
                   "iter_table_batches": lambda: pd.concat(iter_table_batches(path, read, batch, column_types=types))}
        for name, reader in readers.items():
            try:
                got = _frame_rows(reader())
            except InputError as e:
                found.append(f"{name}: {e}")
                continue
            if got != expected:
                first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
                found.append(f"{name}: {len(got)} rows vs {len(expected)}; first difference at data row {first}")
    return found


def boundary_coverage(content: bytes, block: int) -> float:
    """Share of block boundaries with a quote or a line break within NEAR bytes: checks that the generator really
    puts the tricky bytes at the boundaries."""
    bounds = range(block, len(content), block)
    hit = sum(any(b in b'"\r\n' for b in content[max(0, k - NEAR): k + NEAR + 1]) for k in bounds)
    return hit / max(1, len(bounds))


def run(files: int, seed: int, folder: Path) -> dict:
    rng = random.Random(seed)
    failed, coverage, boundaries = [], [], 0
    for i in range(files):
        block = rng.choice([48, 64, 97, 128, 256])
        content, delim, encoding = tricky_csv(rng, block)
        path = folder / f"fuzz_{i}.csv"
        path.write_bytes(content)
        text = content.decode(encoding).encode("utf-8")  # what pyarrow reads, in blocks
        boundaries += len(text) // block
        coverage.append(boundary_coverage(text, block))
        problems = differences(path, delim, encoding, block, batch=rng.randint(1, 40))
        if problems:
            failed.append({"file": i, "block": block, "problems": problems[:2]})
    return {"files": files, "differences": len(failed), "seed": seed, "block_boundaries": boundaries,
            "boundaries_with_quote_or_line_break_within_2_bytes": round(float(np.mean(coverage)), 4),
            "examples": failed[:5]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        result = run(args.files, args.seed, Path(folder))
    print(json.dumps(result))
    return 1 if result["differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
