"""All-or-nothing file writes: write to a temporary name in the same folder, then rename."""
import os
import tempfile
from pathlib import Path

import pandas as pd


def temp_path(path: Path, suffix: str = "") -> Path:
    """A fresh, not yet existing name beside `path` (hidden), to be renamed to `path` when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    tmp = temp_path(path)
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet(table: pd.DataFrame, path: str | Path) -> None:
    path = Path(path)
    tmp = temp_path(path)
    try:
        table.to_parquet(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
