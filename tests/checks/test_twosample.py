"""The merge-free KS and Wasserstein kernel against scipy, on every path it can take."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from slack_alerts.checks import twosample
from slack_alerts.checks.twosample import Scratch, ks_gap, wasserstein_sorted

VALUES = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=-5, max_value=5).map(float),  # ties, within and across samples
)
SAMPLES = st.lists(VALUES, min_size=1, max_size=400)


def assert_equal_to_scipy(a: np.ndarray, b: np.ndarray) -> None:
    x, y = np.sort(a), np.sort(b)
    largest, statistic = ks_gap(x, y)
    expected = stats.ks_2samp(a, b)
    assert statistic == expected.statistic  # bit for bit, as scipy reports it
    assert largest / (len(a) * len(b)) == pytest.approx(expected.statistic, abs=1e-12)
    distance = wasserstein_sorted(x, y)
    reference = stats.wasserstein_distance(a, b)
    assert distance == pytest.approx(reference, rel=1e-9, abs=1e-12 * (1 + np.abs(x).max()))


@pytest.mark.parametrize("step", [1, 2, 3, 64])
@settings(max_examples=150, deadline=None)
@given(a=SAMPLES, b=SAMPLES)
def test_random_samples(step: int, a: list[float], b: list[float]) -> None:
    # Small grid steps make every cell a candidate and exercise the fallback.
    original = twosample.GRID_STEP
    twosample.GRID_STEP = step
    try:
        assert_equal_to_scipy(np.array(a), np.array(b))
    finally:
        twosample.GRID_STEP = original


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "rounding"),
    [
        (20_000, 20_000, 0.0, None),  # equal sizes: W1 is mean |a_i - b_i|
        (20_000, 15_000, 0.03, None),
        (60_000, 80_000, 0.01, 3),  # ties across the samples
        (30_011, 29_989, 0.0, 1),  # coprime sizes: every quantile piece is distinct
        (50_000, 7, 0.5, None),
    ],
)
def test_large_samples(n1: int, n2: int, shift: float, rounding: int | None) -> None:
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), rng.normal(shift, 1, size=n2)
    if rounding is not None:
        a, b = a.round(rounding), b.round(rounding)
    assert_equal_to_scipy(a, b)


def test_identical_samples_take_the_full_evaluation() -> None:
    # Every cell is a candidate (|G| = 0 everywhere): all values are evaluated.
    a = np.random.default_rng(1).normal(size=5_000)
    assert ks_gap(np.sort(a), np.sort(a)) == (0, 0.0)
    assert wasserstein_sorted(np.sort(a), np.sort(a)) == 0.0


def test_discrete_data_with_long_runs() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 4, 30_000).astype(float), rng.integers(0, 5, 25_000).astype(float)
    assert_equal_to_scipy(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([-1.7e308, 1.7e308, 0.0], [1e308, -1e308]),  # differences would overflow
        ([-0.0, 0.0, 5e-324], [0.0, -5e-324]),  # signed zeros and subnormals
        ([1.0], [2.0]),
        ([3.0, 3.0, 3.0], [3.0]),
    ],
)
def test_edge_values(a: list[float], b: list[float]) -> None:
    x, y = np.array(a), np.array(b)
    assert ks_gap(np.sort(x), np.sort(y))[1] == stats.ks_2samp(x, y).statistic
    distance = wasserstein_sorted(np.sort(x), np.sort(y))
    with np.errstate(over="ignore"):
        expected = stats.wasserstein_distance(x, y)
    assert math.isfinite(distance) and distance == pytest.approx(expected, rel=1e-12)


def test_scratch_reuses_its_arrays_between_columns() -> None:
    work = Scratch()
    rng = np.random.default_rng(3)
    a, b = np.sort(rng.normal(size=1000)), np.sort(rng.normal(size=700))
    first = wasserstein_sorted(a, b, work)
    buffer = work.array("differences", 1000, np.float64)
    assert wasserstein_sorted(a, b, work) == first
    assert work.array("differences", 1000, np.float64).base is buffer.base
