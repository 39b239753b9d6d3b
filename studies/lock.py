"""One study folder, one process: an OS lock on the folder itself, held while a study runs."""
import contextlib
import fcntl
import os
import socket

from hostcap.models.errors import InputError
from hostcap.studies.layout import StudyPaths
from hostcap.studies.spec import StudySpec


@contextlib.contextmanager
def study_lock(spec: StudySpec, paths: StudyPaths):
    """Hold the study folder for this process; a second study into the same folder is refused."""
    created = [p for p in (paths.root, *paths.root.parents) if not p.exists()]  # the study's, then --out's
    paths.root.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(spec, paths):
            yield
    except BaseException:
        for folder in created:  # nothing was written: leave nothing behind
            if any(folder.iterdir()):
                break
            folder.rmdir()
        raise


@contextlib.contextmanager
def _locked(spec: StudySpec, paths: StudyPaths):
    """flock(2) on the study folder's own directory descriptor, so that deleting or replacing the `.lock`
    file does not free the folder (the kernel releases the lock when the descriptor closes, also when the
    process is killed). `.lock` only names the holder for the refusal message, and goes when the study ends."""
    fd = os.open(paths.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = paths.lock.read_text().strip()
            except OSError:
                holder = ""
            raise InputError(f"study {spec.name}: {paths.root} is in use by {holder or 'another process'}; wait "
                             "for it to finish or choose another output folder") from None
        paths.lock.write_text(f"hostcap pid {os.getpid()} on {socket.gethostname()}\n")
        try:
            yield
        finally:
            paths.lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
