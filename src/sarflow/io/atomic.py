"""Write-then-rename, so an interrupted run never leaves a file that looks complete."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "check_writable"]


def check_writable(path: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse an output that exists (unless ``overwrite``) or whose folder is missing; return it as a Path.

    Raises `sarflow.errors.OutputExistsError` naming the file and the ``--overwrite`` option, or
    `sarflow.errors.InputError` when the parent folder does not exist or is not a folder. Call it
    before any work starts, so a refused run costs nothing.
    """
    from sarflow.errors import InputError, OutputExistsError

    final = Path(path)
    parent = final.parent
    if not parent.exists():
        raise InputError(f"{final}: output folder {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise InputError(f"{final}: {parent} is not a folder")
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final} exists; pass --overwrite to replace it")
    if final.is_dir() and final.suffix:
        raise InputError(f"{final} is a folder, not a file")
    return final


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
