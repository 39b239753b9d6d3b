"""The study's local Dask cluster, whose processes end with the study however it ends, SIGKILL included.

The scheduler and the workers run in processes of their own (`python -m dask spec`, distributed's
SubprocessCluster), not multiprocessing children of the study: a plain script that calls hostcap.study()
without an `if __name__ == "__main__"` guard is not run again in them. Each worker is a nanny process and
the worker process it starts (a multiprocessing child, which ends when its nanny does: distributed's
AsyncProcess gives it a pipe from the nanny and exits on its EOF).

This module is also the Dask preload of each of those processes (`dask_setup(server)` runs in the process
once its server has started, `dask_teardown(server)` as it starts to close;
https://docs.dask.org/en/stable/customize-initialization.html, "Preload Scripts", arguments through a
Click command):
- every one ignores SIGINT: a Ctrl-C of the terminal's process group reaches the study alone, which
  records what has finished and closes its cluster (`close_local_cluster`);
- the scheduler and each nanny poll their parent PID, and once the study has gone (an orphan's getppid(2)
  names another process, init or a subreaper) close as on their own SIGTERM (`dask spec` closes its server
  then), or exit at once if that takes more than EXIT_GRACE_S;
- a worker process ends WORKER_EXIT_S after its close starts, even with a task still running in its
  thread (the interpreter would wait for the task at exit, 3-4 s measured, until its nanny killed it).
  It can, as it owns no multiprocessing semaphore: the one tqdm would create for its progress bars
  (`tqdm.std.TqdmDefaultWriteLock`) is replaced by a thread lock; its nanny's are the nanny's to release.
"""
import contextlib
import logging
import os
import signal
import threading
import time

import click

POLL_S = 0.2
EXIT_GRACE_S = 3.0
ORPHAN_EXIT_CODE = 3
WORKER_EXIT_S = 0.5
QUIET_ENV = {"DASK_LOGGING__DISTRIBUTED": "warning"}  # dask's config `logging: {distributed: warning}`


def local_cluster(n_workers: int, quiet: bool):
    """A SubprocessCluster of `n_workers` single-threaded workers, this module preloaded in each of its
    processes. Quiet: they log at WARNING and up only, from their start (a nanny logs its preloads at INFO
    before it applies `silence_logs`)."""
    from distributed.deploy.subprocess import SubprocessCluster

    study = ["--parent-pid", str(os.getpid())]
    with _environ(QUIET_ENV if quiet else {}):  # they start here, and inherit this environment
        return SubprocessCluster(
            n_workers=n_workers, threads_per_worker=1, dashboard_address=":0",
            silence_logs=logging.WARNING if quiet else False,
            scheduler_kwargs={"preload": [__name__], "preload_argv": study},
            worker_kwargs={"preload_nanny": [__name__], "preload_nanny_argv": study, "preload": [__name__]})


def close_local_cluster(cluster, timeout: float) -> None:
    """Close the cluster within about `timeout` s each step, its nannies first (`stop_nannies`)."""
    stop_nannies(cluster, timeout)
    cluster.close(timeout=timeout)


def stop_nannies(cluster, timeout_s: float) -> None:
    """End each nanny as its own SIGTERM does and wait up to `timeout_s` for all: `dask spec` closes the
    nanny, which ends its worker and releases its multiprocessing semaphores. The cluster's own close
    kills each worker's process tree (SIGKILL, `distributed.deploy.subprocess.Subprocess.close`), resource
    tracker included, which leaves the semaphores in /dev/shm (measured: 12 per study of two workers)."""
    procs = [w.process for w in cluster.workers.values() if w.process is not None]
    for proc in procs:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(p.returncode is None for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_S / 4)  # the cluster's event loop sets returncode when it reaps the process


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


@click.command()
@click.option("--parent-pid", type=int, default=None, help="the study's PID: end when it is no longer the parent")
def dask_setup(server, parent_pid: int | None) -> None:
    """Preload: ignore SIGINT; in the scheduler and the nannies (given the study's PID) watch the parent; in
    a worker process, progress bars take a thread lock."""
    from distributed import Worker
    from tqdm import tqdm

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if isinstance(server, Worker):
        tqdm.set_lock(threading.RLock())
    if parent_pid is not None:
        threading.Thread(target=_watch, args=(parent_pid,), name="hostcap-parent-watch", daemon=True).start()


def dask_teardown(server) -> None:
    """Preload, as the server starts to close: a worker process ends WORKER_EXIT_S later."""
    from distributed import Worker

    if isinstance(server, Worker):
        threading.Timer(WORKER_EXIT_S, os._exit, (0,)).start()


def _watch(parent_pid: int) -> None:
    """Poll until `parent_pid` is no longer the parent (also if it had gone before this started), then close
    as on SIGTERM, or exit after EXIT_GRACE_S."""
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(EXIT_GRACE_S)
    os._exit(ORPHAN_EXIT_CODE)
