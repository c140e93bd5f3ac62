"""Write-then-rename, so an interrupted run never leaves a file that looks complete."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary name keeps the final suffix (drivers pick formats by it) and starts with a dot,
    e.g. ``out.tif`` -> ``.out.tmp-1a2b3c4d.tif``. On any exception the temporary file is removed
    and ``path`` is left as it was (absent, or the previous complete file).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:8]}{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
        aux = tmp.with_name(tmp.name + ".aux.xml")  # GDAL side-car files
        if aux.exists():
            aux.unlink()
