"""All-or-nothing writes leave nothing behind, even when interrupted."""
import os

import pytest

from hostcap.studies.atomic import atomic_path, write_text


def test_an_interrupt_anywhere_in_a_write_leaves_no_file(tmp_path, monkeypatch):
    """KeyboardInterrupt (the CLI's SIGINT and SIGTERM) right after the temporary file is made, and in the
    middle of writing it: the folder holds only what was there."""
    write_text("old", tmp_path / "a.txt")
    real_close = os.close

    def interrupted(fd):
        real_close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "close", interrupted)
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "a.txt"):
        pass
    monkeypatch.setattr(os, "close", real_close)
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"
