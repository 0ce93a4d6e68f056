"""Loading a monitor's input: a DataFrame as given, or a CSV or Parquet file.

Every error names the argument and the file, and says what to do: a missing
file, a file that is not UTF-8 text (or not in the given ``encoding``), and
duplicate column names, which pandas would otherwise rename silently
(``age``, ``age.1``) and monitor as a feature that does not exist.
"""

from __future__ import annotations

import codecs
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from prefect import task

from slack_alerts.text import looks_like_secret


class InputFileError(ValueError):
    """An input file cannot be used as it is; the message names the argument and the file."""


def undecodable_at(path: Path, encoding: str) -> tuple[int, int, int] | None:
    """``(byte offset, line, byte)`` of the first byte not valid in ``encoding``, or None.

    Reads the file in blocks with an incremental decoder, so the position is
    exact anywhere in a large file.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    lines = 1
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                position = max(error.start, 0)
                bad = block[position] if position < len(block) else block[-1]
                return offset + position, lines + block[:position].count(b"\n"), bad
            offset += len(block)
            lines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, lines, 0
    return None


def not_text_error(name: str, path: Path, encoding: str, advice: str) -> InputFileError:
    """The error for a file that is not ``encoding`` text, with where it first is not."""
    where = undecodable_at(path, encoding)
    at = f" (byte 0x{where[2]:02x} at offset {where[0]}, line {where[1]})" if where else ""
    return InputFileError(f"{name}: {path} is not valid {encoding} text{at}; {advice}")


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _read_csv(path: Path, name: str, encoding: str) -> pd.DataFrame:
    try:
        # The header as written: pandas would rename a repeated name to "age.1".
        header = pd.read_csv(
            path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding
        )
        frame = pd.read_csv(path, encoding=encoding)
    except UnicodeDecodeError:
        raise not_text_error(
            name,
            path,
            encoding,
            "re-save it as UTF-8, or pass the file's encoding (encoding='latin-1', 'cp1252', ...)",
        ) from None
    except pd.errors.EmptyDataError:
        raise InputFileError(
            f"{name}: {path} is empty (no header row); write the column names on its first line"
        ) from None
    duplicated = _duplicates([str(c) for c in header.iloc[0].tolist()]) if len(header) else []
    if duplicated:
        raise InputFileError(
            f"{name}: {path} has duplicate column names: {', '.join(map(repr, duplicated))}; "
            "rename them so each column has one name"
        )
    return frame


@task(name="load-table")
def load_frame(
    source: pd.DataFrame | str | Path, name: str = "data", encoding: str = "utf-8"
) -> pd.DataFrame:
    """A DataFrame as given, or read from a CSV (in ``encoding``) or Parquet path.

    Raises:
        FileNotFoundError: no file at the path (naming ``name``).
        InputFileError: not UTF-8 (or ``encoding``) text, or duplicate column
            names, or neither .csv nor .parquet; the message names ``name`` and
            the file and says what to do.
    """
    if isinstance(source, pd.DataFrame):
        return source
    if looks_like_secret(str(source)):
        raise InputFileError(
            f"{name}: looks like a URL with a password or a token (not shown), not a file; give "
            "a CSV or Parquet path or a DataFrame (for a database, use `live` with a SQL source)"
        )
    if looks_like_secret(encoding):
        raise InputFileError("encoding: looks like a secret (not shown); use e.g. 'utf-8'")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputFileError(
            f"encoding: {encoding[:40]!r} is not a text encoding Python knows; use e.g. "
            "'utf-8', 'latin-1' or 'cp1252'"
        ) from None
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, name, encoding)
    if suffix in (".parquet", ".pq"):
        # Read the schema first: pyarrow refuses repeated names with an error
        # that names neither the file nor the argument.
        duplicated = _duplicates([str(c) for c in pq.read_schema(path).names])
        if duplicated:
            raise InputFileError(
                f"{name}: {path} has duplicate column names: "
                f"{', '.join(map(repr, duplicated))}; rename them so each column has one name"
            )
        return pd.read_parquet(path)
    raise InputFileError(f"{name}: {path.name} is neither .csv nor .parquet")
