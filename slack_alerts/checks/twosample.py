"""KS and Wasserstein-1 of two sorted samples, without merging them.

Both statistics read the two empirical CDFs at every value of either
sample, which suggests merging the sorted samples. A merge costs more than
the two sorts with numpy (its merge primitives, a stable argsort or
``searchsorted`` over every value, are slower than its SIMD sort), so:

- ``wasserstein_sorted`` uses the quantile functions instead of the CDFs,
  ``W1 = integral over t in (0, 1) of |Q_a(t) - Q_b(t)|``: for equal sizes
  the mean of ``|a_i - b_i|``, otherwise a sum over the pieces where both
  quantile functions are constant, whose ends and lengths are integer
  arithmetic on ``i / n1`` and ``j / n2``;
- ``ks_gap`` reads ``G(x) = n2 * #a<=x - n1 * #b<=x`` (``n1 * n2`` times
  the CDF difference, exact) on a grid of every 64th value of each sample.
  Between two grid values ``G`` can move by at most the values in between,
  so it is evaluated exactly only in the cells whose bound can reach the
  largest ``|G|`` found: a few cells, unless the samples interleave evenly
  everywhere (identical samples), where every value is evaluated, as scipy
  does.

Tested against ``scipy.stats.ks_2samp`` (bit for bit) and
``scipy.stats.wasserstein_distance`` (to rounding) on random and edge-case
data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# scipy.stats.ks_2samp's exact mode (and its lattice-valued D) up to this size.
EXACT_KS_MAX_N = 10_000
# Every GRID_STEP-th value of each sample is a grid value of ks_gap.
GRID_STEP = 64


class Scratch:
    """Reusable work arrays for one thread, column after column.

    On large inputs fresh memory (page faults) costs more than the
    arithmetic done in it. Not thread-safe: one per thread. Arrays grow to
    the largest size asked for and are freed with the ``Scratch``.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, npt.NDArray[Any]] = {}
        self._plans: dict[tuple[int, int], tuple[npt.NDArray[Any], ...]] = {}

    def array(self, name: str, size: int, dtype: type[np.generic]) -> npt.NDArray[Any]:
        """A work array of ``size`` elements; its contents are undefined."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = np.empty(size, dtype=dtype)
            self._buffers[name] = buffer
        return buffer[:size]

    def quantile_plan(self, n1: int, n2: int) -> tuple[npt.NDArray[Any], ...]:
        """``_quantile_plan(n1, n2)``, kept for the next column of the same sizes."""
        plan = self._plans.get((n1, n2))
        if plan is None:
            self._plans.clear()  # one size pair at a time: columns rarely differ
            plan = self._plans[(n1, n2)] = _quantile_plan(n1, n2)
        return plan


def _ranges(starts: IntArray, stops: IntArray) -> IntArray:
    """The indices of the ranges ``[starts[i], stops[i])``, concatenated."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    indices: IntArray = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return indices


def _grid(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Every ``GRID_STEP``-th value and the last, with how many values are ``<=`` each."""
    n = len(values)
    positions = np.append(np.arange(GRID_STEP - 1, n - 1, GRID_STEP, dtype=np.int64), n - 1)
    grid = values[positions]
    counts = positions + 1
    tied = np.flatnonzero(grid[:-1] == values[positions[:-1] + 1])
    if tied.size:  # a run of equal values continues past the grid position
        counts[tied] = np.searchsorted(values, grid[tied], side="right")
    return grid, counts


def ks_gap(a: FloatArray, b: FloatArray) -> tuple[int, float]:
    """The KS distance of two sorted, finite, non-empty samples, exactly.

    Returns ``(largest, statistic)``: the largest ``|n2 * #a<=x - n1 *
    #b<=x|`` over the values ``x`` of either sample (an exact integer, D
    times ``n1 * n2``), and D as ``scipy.stats.ks_2samp`` reports it: on the
    lattice of multiples of ``1 / lcm(n1, n2)`` up to 10,000 values per
    sample (its exact mode), else the largest ``|#a<=x / n1 - #b<=x / n2|``
    in floating point among the values where the exact maximum is reached.
    """
    n1, n2 = len(a), len(b)
    grid_a, first_a = _grid(a)
    grid_b, second_b = _grid(b)
    order = np.argsort(np.concatenate((grid_a, grid_b)), kind="stable")  # merges two short runs
    grid = np.concatenate((grid_a, grid_b))[order]
    first = np.concatenate((first_a, np.searchsorted(a, grid_b, side="right")))[order]
    second = np.concatenate((np.searchsorted(b, grid_a, side="right"), second_b))[order]
    gaps = np.abs(n2 * first - n1 * second)
    largest = int(gaps.max())
    # Cell i holds the values in (grid[i - 1], grid[i]]; within it #a<=x and
    # #b<=x stay between their counts at the two ends, which bounds |G|.
    first_before = np.concatenate(([0], first[:-1]))
    second_before = np.concatenate(([0], second[:-1]))
    bound = np.maximum(n2 * first - n1 * second_before, n1 * second - n2 * first_before)
    # A cell whose first value is its end value holds no other value.
    inner_a = (first > first_before) & (a[np.minimum(first_before, n1 - 1)] < grid)
    inner_b = (second > second_before) & (b[np.minimum(second_before, n2 - 1)] < grid)
    cells = np.flatnonzero((bound >= largest) & (inner_a | inner_b))
    values = grid[gaps == largest]
    if cells.size:
        inside = np.concatenate(
            (
                a[_ranges(first_before[cells], first[cells])],
                b[_ranges(second_before[cells], second[cells])],
            )
        )
        if len(inside) > (n1 + n2) // 4:  # evenly interleaved: evaluate everything
            inside = np.concatenate((a, b))
        inside_first = np.searchsorted(a, inside, side="right")
        inside_second = np.searchsorted(b, inside, side="right")
        inside_gaps = np.abs(n2 * inside_first - n1 * inside_second)
        top = int(inside_gaps.max())
        if top > largest:
            largest, values = top, inside[inside_gaps == top]
        elif top == largest:
            values = np.concatenate((values, inside[inside_gaps == top]))
    if max(n1, n2) <= EXACT_KS_MAX_N:
        # scipy's exact mode reports D on the lattice of multiples of 1 / lcm(n1, n2).
        g = math.gcd(n1, n2)
        return largest, (largest // g) * 1.0 / ((n1 // g) * n2)
    # Exact gaps differ by at least 1 / (n1 * n2), far above rounding, so
    # scipy's largest rounded difference is among these values.
    cdf_a = np.searchsorted(a, values, side="right") / n1
    cdf_b = np.searchsorted(b, values, side="right") / n2
    return largest, float(np.abs(cdf_a - cdf_b).max())


def _quantile_plan(n1: int, n2: int) -> tuple[npt.NDArray[Any], ...]:
    """The pieces of (0, 1] on which both quantile functions are constant.

    In integer time ``T = t * n1 * n2``, the first sample's quantile
    function steps at ``i * n2`` and the second's at ``j * n1``. Each step
    ends one piece: a first-sample step ``i`` ends the piece where the
    indices are ``(i - 1, ceil(i * n2 / n1) - 1)``, a second-sample step
    ``j`` the piece with ``(ceil(j * n1 / n2) - 1, j - 1)``. A piece starts
    at the latest step of either sample before its end (ties count once,
    as the first sample's). Returns the index pairs and lengths (over
    ``n1 * n2``) of both kinds of piece.
    """
    i = np.arange(1, n1 + 1, dtype=np.int64)
    end_i = i * n2
    b_index = (end_i - 1) // n1  # ceil(i * n2 / n1) - 1
    start_i = np.maximum(end_i - n2, b_index * n1)
    j = np.arange(1, n2 + 1, dtype=np.int64)
    end_j = j * n1
    a_index = (end_j - 1) // n2
    start_j = np.maximum(end_j - n1, (end_j // n2) * n2)
    scale = float(n1) * float(n2)
    return (
        b_index,
        (end_i - start_i) / scale,
        a_index,
        (end_j - start_j) / scale,
    )


def wasserstein_sorted(a: FloatArray, b: FloatArray, work: Scratch | None = None) -> float:
    """Wasserstein-1 distance of two sorted, finite, non-empty samples.

    ``integral over t in (0, 1) of |Q_a(t) - Q_b(t)| dt`` (equal to
    ``scipy.stats.wasserstein_distance``, which integrates ``|F_a - F_b|``
    over x; the two integrals are the same area). For equal sizes this is
    ``mean(|a_i - b_i|)``.
    """
    work = work or Scratch()
    n1, n2 = len(a), len(b)
    huge = max(-a[0], a[-1], -b[0], b[-1]) >= 2.0**1021
    if huge:
        # a_i - b_i, and their sum, could overflow: work on the quarters.
        a, b = a * 0.25, b * 0.25
    if n1 == n2 and not huge:
        differences = np.subtract(a, b, out=work.array("differences", n1, np.float64))
        np.abs(differences, out=differences)
        return float(np.add.reduce(differences)) / n1
    if n1 == n2:  # weights 1 / n, applied before the sum
        plan: tuple[npt.NDArray[Any], ...] = (
            np.arange(n1),
            np.full(n1, 1.0 / n1),
            np.arange(n1),
            np.zeros(n1),
        )
    else:
        plan = work.quantile_plan(n1, n2)
    b_index, length_i, a_index, length_j = plan
    b_index, length_i, a_index, length_j = work.quantile_plan(n1, n2)
    total = 0.0
    for ours, other, index, lengths in ((a, b, b_index, length_i), (b, a, a_index, length_j)):
        # mode="clip": the indices are in range, and "raise" would buffer.
        differences = np.take(
            other, index, out=work.array("differences", len(ours), np.float64), mode="clip"
        )
        np.subtract(ours, differences, out=differences)
        np.abs(differences, out=differences)
        differences *= lengths
        total += float(np.add.reduce(differences))
    return total * 4.0 if huge else total  # a float product overflows to inf
