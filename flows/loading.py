"""Loading a monitor's input: a DataFrame as given, or a CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task


@task(name="load-table")
def load_frame(source: pd.DataFrame | str | Path, name: str = "data") -> pd.DataFrame:
    """A DataFrame as given, or read from a CSV or Parquet path."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"{name}: {path.name} is neither .csv nor .parquet")
