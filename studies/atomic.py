"""All-or-nothing file writes: write to a temporary name in the same folder, then rename.

Files and folders get the permissions of an ordinary write under the user's umask (readable by the group
where the umask allows), not the private 0600/0700 of temporary files.
"""
import contextlib
import os
import tempfile
from pathlib import Path

import pandas as pd


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_mode(path: Path) -> None:
    """Give a file or folder made by tempfile the mode a plain open()/mkdir() would have given it."""
    path.chmod((0o777 if path.is_dir() else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a fresh hidden name beside `path`; rename it to `path` if the block succeeds, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    tmp = Path(name)
    try:  # from here an interrupt (KeyboardInterrupt, raised anywhere) leaves no file behind
        os.close(fd)
        tmp.unlink()  # writers (GDAL, matplotlib) want to create the file themselves
        yield tmp
        ordinary_mode(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet(table: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        table.to_parquet(tmp)


def check_writable(folder: str | Path) -> None:
    """Refuse, before any work, a folder that cannot be created or written (one line naming it). Creates
    nothing: it probes the folder, or its nearest existing parent, with a temporary file."""
    from hostcap.models.errors import InputError

    folder = Path(folder)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        tail = "not a folder" if probe == folder else f"so {folder} cannot be a folder"
        raise InputError(f"out: {probe} is a file, {tail}")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".hostcap-probe-"):
            pass
    except OSError as exc:
        raise InputError(f"out: cannot write to {folder} ({exc.strerror or type(exc).__name__})") from None
