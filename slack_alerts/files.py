"""Atomic JSON files: a reader sees the old file or the whole new one, never half."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to a temporary file, fsync it, then rename it over ``path``.

    Raises ``OSError`` when the folder cannot be written (read-only, full, a
    path under a file); the temporary file is removed in every case, so a
    failed write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(record, handle, ensure_ascii=False, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
