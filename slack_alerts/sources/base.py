"""What a source returns for a window, and how large windows are sampled.

``WindowFrame`` is one window's rows as a pandas DataFrame, with how many
rows were read and how many kept, and the column kinds taken from the
source's schema (the same for every window of a source).

Sampling is **bottom-k**: every row gets a 64-bit hash of its content (and
the seed), and the ``row_cap`` rows with the smallest hashes are kept. The
sample therefore does not depend on the order in which rows arrive, is the
same on every run (a backfill reproduces it), and can be taken while
streaming, chunk by chunk, with memory bounded by the cap plus one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from slack_alerts.checks.columns import ColumnKind
from slack_alerts.windows import TimeWindow

__all__ = [
    "DEFAULT_ROW_CAP",
    "DEFAULT_SEED",
    "SourceError",
    "WindowFrame",
    "bottom_k",
    "sample_stream",
]

DEFAULT_ROW_CAP = 200_000
DEFAULT_SEED = 0
_HASH = "__sample_hash__"


class SourceError(ValueError):
    """A source cannot be read: the message names the field, never a secret."""


@dataclass
class WindowFrame:
    """One window's rows.

    ``frame`` holds at most the row cap's rows; ``rows_read`` is how many the
    window holds in the source, ``rows_sampled`` how many were kept
    (``len(frame)``). ``kinds`` maps column names to ``ColumnKind`` from the
    source's schema, for ``feature_drift(..., kinds=...)``.
    """

    frame: pd.DataFrame
    rows_read: int
    rows_sampled: int
    kinds: dict[str, ColumnKind]
    window: TimeWindow
    notes: list[str] = field(default_factory=list)

    @property
    def sampled(self) -> bool:
        return self.rows_sampled < self.rows_read

    @property
    def empty(self) -> bool:
        return self.rows_read == 0

    def summary(self) -> dict[str, Any]:
        return {
            "window": self.window.label(),
            "rows_read": self.rows_read,
            "rows_sampled": self.rows_sampled,
        }


def _hashes(frame: pd.DataFrame, seed: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """A 64-bit hash of each row's content, mixed with the seed (splitmix64's finalizer)."""
    # pandas keys only the hashing of text columns: mix the seed into every row's hash.
    x = np.asarray(pd.util.hash_pandas_object(frame, index=False), dtype=np.uint64)
    x = x ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def bottom_k(frame: pd.DataFrame, row_cap: int, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The ``row_cap`` rows of ``frame`` with the smallest content hashes (all if fewer)."""
    if len(frame) <= row_cap:
        return frame
    order = np.argsort(_hashes(frame, seed), kind="stable")[:row_cap]
    return frame.iloc[np.sort(order)].reset_index(drop=True)


def sample_stream(
    chunks: Iterable[pd.DataFrame], row_cap: int, seed: int = DEFAULT_SEED
) -> tuple[pd.DataFrame | None, int]:
    """Bottom-k over a stream of chunks: (the kept rows, rows seen).

    Equal to ``bottom_k`` of all the chunks concatenated (up to row order),
    holding at most ``row_cap`` rows plus one chunk at a time. ``None`` when
    the stream had no chunk.
    """
    kept: pd.DataFrame | None = None
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if kept is None and len(chunk) <= row_cap:
            kept = chunk
            continue
        joined = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        if len(joined) <= row_cap:
            kept = joined
            continue
        hashes = _hashes(joined, seed)
        keep = np.sort(np.argpartition(hashes, row_cap - 1)[:row_cap])
        kept = joined.iloc[keep].reset_index(drop=True)
    if kept is not None and seen > row_cap:
        # Rows in a stable order (by hash) so the result does not depend on chunking.
        order = np.argsort(_hashes(kept, seed), kind="stable")
        kept = kept.iloc[order].reset_index(drop=True)
    return kept, seen


def chunked(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]
