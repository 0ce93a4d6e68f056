"""What a source returns for a window, and how large windows are sampled.

``WindowFrame`` is one window's rows as a pandas DataFrame, with how many
rows were read and how many kept, and the column kinds taken from the
source's schema (the same for every window of a source).

Sampling is **bottom-k** (priority sampling; Cohen & Kaplan, "Summarizing
data using bottom-k sketches", PODC 2007): every row gets a 64-bit priority
and the ``row_cap`` rows with the smallest priorities are kept. A row's
priority is a seeded hash of its content **and its occurrence number** (the
j-th row with that content gets ``hash(content, j, seed)``), so:

- priorities are independent across rows, duplicates included: the sample
  is a uniform random sample of rows (without replacement), and a category
  keeps its share within sampling error. Hashing the content alone would
  give identical rows one shared priority, keeping or dropping them
  together: batch-scored data (one timestamp per batch, few distinct
  values) then loses whole categories;
- identical rows are interchangeable, so the sample does not depend on the
  order in which rows arrive or on how they are chunked, and is the same on
  every run (a backfill reproduces it).

It is taken while streaming, chunk by chunk: memory is the cap's rows plus
one chunk, plus 12 bytes per distinct row content seen (the occurrence
counts).
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


def _mix(x: np.ndarray[Any, np.dtype[np.uint64]]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """splitmix64's finalizer (Steele, Lea & Flood, OOPSLA 2014): a bijection on 64 bits."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _content_hashes(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """A 64-bit hash of each row's content (equal rows, equal hashes)."""
    return np.asarray(pd.util.hash_pandas_object(frame, index=False), dtype=np.uint64)


def _priorities(
    content: np.ndarray[Any, np.dtype[np.uint64]],
    occurrence: np.ndarray[Any, np.dtype[np.uint64]],
    seed: int,
) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """``hash(content, occurrence, seed)``: independent for every row, duplicates included."""
    with np.errstate(over="ignore"):
        x = content ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        x = _mix(x) ^ (occurrence * np.uint64(0xD1B54A32D192ED03))
        return _mix(_mix(x))


class _Occurrences:
    """How many rows with each content hash were seen so far (a sorted array).

    ``number`` gives each row of a chunk its occurrence number (1 for the
    first row with that content in the whole stream), whatever the chunking.
    """

    def __init__(self) -> None:
        self.keys: np.ndarray[Any, np.dtype[np.uint64]] = np.empty(0, dtype=np.uint64)
        self.counts: np.ndarray[Any, np.dtype[np.uint32]] = np.empty(0, dtype=np.uint32)

    def number(
        self, content: np.ndarray[Any, np.dtype[np.uint64]]
    ) -> np.ndarray[Any, np.dtype[np.uint64]]:
        order = np.argsort(content, kind="stable")
        ordered = content[order]
        unique, first, counts = np.unique(ordered, return_index=True, return_counts=True)
        # Rank of each row among the chunk's rows with its content (0, 1, ...).
        rank = np.arange(len(ordered)) - np.repeat(first, counts)
        where = np.searchsorted(self.keys, unique)
        known = where < len(self.keys)
        known[known] = self.keys[where[known]] == unique[known]
        before = np.zeros(len(unique), dtype=np.uint64)
        before[known] = self.counts[where[known]]
        numbers = np.empty(len(content), dtype=np.uint64)
        numbers[order] = np.repeat(before, counts) + rank.astype(np.uint64) + np.uint64(1)
        self.counts[where[known]] += counts[known].astype(np.uint32)
        self.keys = np.insert(self.keys, where[~known], unique[~known])
        self.counts = np.insert(self.counts, where[~known], counts[~known].astype(np.uint32))
        return numbers


def bottom_k(frame: pd.DataFrame, row_cap: int, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """A uniform sample of ``row_cap`` rows of ``frame`` (all if fewer): ``sample_stream``'s."""
    if len(frame) <= row_cap:
        return frame
    kept, _ = sample_stream([frame], row_cap, seed)
    assert kept is not None
    return kept


def sample_stream(
    chunks: Iterable[pd.DataFrame], row_cap: int, seed: int = DEFAULT_SEED
) -> tuple[pd.DataFrame | None, int]:
    """Bottom-k over a stream of chunks: (the kept rows, rows seen).

    The ``row_cap`` rows with the smallest priorities ``hash(content,
    occurrence number, seed)``: a uniform random sample of the rows, the
    same (up to which of identical rows) whatever the rows' order and
    chunking. Holds at most ``row_cap`` rows plus one chunk at a time, and
    the occurrence counts. ``None`` when the stream had no chunk.
    """
    kept: pd.DataFrame | None = None
    kept_priority: np.ndarray[Any, np.dtype[np.uint64]] = np.empty(0, dtype=np.uint64)
    occurrences = _Occurrences()
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if not len(chunk):
            kept = chunk if kept is None else kept
            continue
        content = _content_hashes(chunk)
        priority = _priorities(content, occurrences.number(content), seed)
        if kept is None or not len(kept):
            joined, joined_priority = chunk, priority
        else:
            joined = pd.concat([kept, chunk], ignore_index=True)
            joined_priority = np.concatenate([kept_priority, priority])
        if len(joined) > row_cap:
            keep = np.sort(np.argpartition(joined_priority, row_cap - 1)[:row_cap])
            joined, joined_priority = joined.iloc[keep], joined_priority[keep]
        kept, kept_priority = joined.reset_index(drop=True), joined_priority
    if kept is not None and seen > row_cap:
        # Rows in a stable order (by priority) so the result does not depend on chunking.
        order = np.argsort(kept_priority, kind="stable")
        kept = kept.iloc[order].reset_index(drop=True)
    return kept, seen


def chunked(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]
