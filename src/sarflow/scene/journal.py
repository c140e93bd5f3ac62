"""A record of the finished blocks of a scene job, so a killed run can resume where it stopped.

While a job writing ``OUT`` runs, a folder ``.OUT.partial/`` beside it holds ``job.json`` (what is
being computed: inputs, model, settings, and the block plan) and one ``block-NNNNNN.npy`` per
finished block, each written under a temporary name and renamed, so a file that is there is
complete. Work that every block needs once (normalisation statistics, the coarse prior grid) is
kept there too. ``OUT`` itself appears only when every block is done and the product is assembled;
the folder is then removed.

A run started again with ``resume=True`` (``--resume``) checks that ``job.json`` describes the same
job, keeps the finished blocks and computes the rest; the result is the same as an uninterrupted
run's, since each block is a pure function of the inputs and the plan.

Only one run at a time may work on an output: a job holds an exclusive lock (``flock``) on
``.OUT.lock`` beside the output from the moment it opens the journal until the product is in
place, and a second run is refused while it is held. The operating system drops the lock when its
process ends, however it ends, so a killed run never blocks the ``--resume`` that follows; the
lock file of a run that failed stays beside its partial folder (empty, harmless).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import weakref
from pathlib import Path

import numpy as np

from sarflow.errors import InputError

__all__ = ["Journal", "partial_folder", "lock_path", "file_identity", "ABORT_AFTER_BLOCKS_ENV"]

_FORMAT = "sarflow-journal-1"

#: Test hook: a job ends its process abruptly (``os._exit``, like a kill) after saving this many blocks.
ABORT_AFTER_BLOCKS_ENV = "SARFLOW_TEST_ABORT_AFTER_BLOCKS"


def partial_folder(output: str | Path) -> Path:
    """Where the journal of a job writing ``output`` lives: ``.NAME.partial`` beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.partial")


def lock_path(output: str | Path) -> Path:
    """The lock file of jobs writing ``output``: ``.NAME.lock`` beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


def _acquire_lock(output: Path) -> int | None:
    """An open descriptor holding the exclusive lock of ``output``'s jobs (None where locks do not exist).

    Raises
    ------
    InputError
        Another run holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no advisory locks
        return None
    path = lock_path(output)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise InputError(f"another sarflow run is writing {output} (it holds {path}); wait for it to finish, "
                         "or stop it and run again with --resume") from None
    return fd


def _normalised(value) -> object:
    """``value`` as JSON reads it back (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def file_identity(path: str, *, _depth: int = 0) -> dict:
    """Name, size and modification time of an input (HDF5 ``FILE:/dataset`` sources: of the file).

    A GDAL VRT is only a list of other files: its identity also holds those of the files it names
    (``SourceFilename``, nested VRTs too, up to 8 levels), so that a resumed job notices an edited
    source behind an unchanged VRT.
    """
    from sarflow.io.rasters import split_hdf5_source

    split = split_hdf5_source(path)
    file = Path(split[0] if split else path)
    try:
        stat = file.stat()
    except OSError:
        return {"path": path}
    identity = {"path": str(file.resolve()), "source": path, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if file.suffix.lower() == ".vrt" and _depth < 8:
        identity["sources"] = [file_identity(str(source), _depth=_depth + 1) for source in _vrt_sources(file)]
    return identity


def _vrt_sources(vrt: Path) -> list[Path]:
    """Files a VRT names (``SourceFilename``), resolved as GDAL does (``relativeToVRT``); [] if unreadable."""
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.parse(vrt).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    names = []
    for element in root.iter("SourceFilename"):
        name = (element.text or "").strip()
        if not name or name.startswith("/vsi"):
            continue
        relative = element.get("relativeToVRT", "0") == "1"
        names.append(vrt.parent / name if relative else Path(name))
    return list(dict.fromkeys(names))


class Journal:
    """Finished blocks of one job (see the module notes).

    Parameters
    ----------
    output : path
        The product being made.
    job : dict
        JSON-serialisable description of the job; a resumed run must describe the same job.
    plan : dict, optional
        How the job is cut into blocks (or later, `save_plan`); a resumed run takes the stored plan.
    resume : bool
        Keep the blocks of an earlier run of the same job; without it an earlier partial run is
        discarded.

    Raises
    ------
    InputError
        ``resume`` with a partial run of a different job.
    """

    def __init__(self, output: str | Path, *, job: dict, plan: dict | None = None, resume: bool = False):
        self.output = Path(output)
        self.folder = partial_folder(output)
        # Before touching the folder: a second run must not discard or mix in another's blocks.
        self._lock = _acquire_lock(self.output)
        self._closer = weakref.finalize(self, _close, self._lock)
        self.job = _normalised(job)
        self._saved_here = 0
        record = self.folder / "job.json"
        if resume and record.exists():
            try:
                stored = json.loads(record.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"{record} is damaged ({exc}); run again without --resume to start over") from exc
            if stored.get("format") != _FORMAT or stored.get("job") != self.job:
                changed = sorted(k for k in set(self.job) | set(stored.get("job", {}))
                                 if self.job.get(k) != stored.get("job", {}).get(k))
                raise InputError(f"the partial run in {self.folder} was made for a different job (differs in: "
                                 f"{', '.join(changed) or 'format'}); run again without --resume to start over")
            self.plan = stored.get("plan")
            return
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.plan = None
        self._write_record(plan)

    def _write_record(self, plan: dict | None) -> None:
        self.plan = None if plan is None else _normalised(plan)
        _write_atomic(self.folder / "job.json", lambda tmp: tmp.write_text(
            json.dumps({"format": _FORMAT, "job": self.job, "plan": self.plan}, indent=1)))

    def save_plan(self, plan: dict) -> None:
        """Record the block plan (once known); a resumed run reads it back as `plan`."""
        self._write_record(plan)

    # -- blocks --------------------------------------------------------------------------------
    def _block_path(self, index: int) -> Path:
        return self.folder / f"block-{index:06d}.npy"

    def finished(self) -> set[int]:
        """Indices of the blocks saved so far."""
        done = set()
        for path in self.folder.glob("block-*.npy"):
            try:
                done.add(int(path.stem.split("-")[1]))
            except ValueError:
                continue
        return done

    def save(self, index: int, array: np.ndarray) -> None:
        """Record block ``index`` (any array); atomic."""
        _write_atomic(self._block_path(index), lambda tmp: _save_npy(tmp, array))
        self._saved_here += 1
        limit = os.environ.get(ABORT_AFTER_BLOCKS_ENV)
        if limit and self._saved_here >= int(limit):
            os._exit(75)  # abrupt, as a kill: no clean-up, no output

    def load(self, index: int) -> np.ndarray:
        return np.load(self._block_path(index))

    # -- state shared by all blocks ------------------------------------------------------------
    def load_state(self, name: str) -> dict[str, np.ndarray] | None:
        """Arrays saved with `save_state`, or None."""
        path = self.folder / f"{name}.npz"
        if not path.exists():
            return None
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def save_state(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        _write_atomic(self.folder / f"{name}.npz", lambda tmp: _save_npz(tmp, arrays))

    def discard(self) -> None:
        """Remove the folder and the lock file, and release the lock (once the product is in place)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._lock is not None:
            lock_path(self.output).unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Release the lock (also done when the journal is garbage-collected or the process ends)."""
        self._closer()


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
