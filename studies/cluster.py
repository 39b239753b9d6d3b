"""The study's Dask cluster: an existing scheduler, a SLURM cluster from the study file (dask-jobqueue), or
local worker processes (`studies/local_cluster.py`); opened when first needed and closed within bounded
time."""
import contextlib
import functools
import json
import logging
import os
import subprocess
import time

from hostcap.models.errors import InputError
from hostcap.studies.spec import Slurm, StudySpec

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 10
WORKER_START_TIMEOUT_S = 120  # local workers import numba, pandapower and mosaik: slow on a busy machine
CLOSE_TIMEOUT_S = 20
SLURM_START_TIMEOUT_S = 60  # jobs gone from the queue with no worker by then have failed
SLURM_POLL_S = 5
UNSCHEDULABLE = ("PartitionConfig", "ReqNodeNotAvail", "PartitionNodeLimit", "PartitionTimeLimit",
                 "BadConstraints")  # squeue reasons of a request that cannot be scheduled as configured


def slurm_cluster(settings: Slurm):
    """A dask-jobqueue SLURMCluster (not yet scaled): one single-threaded worker process per core."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(cores=settings.cores, processes=settings.cores, memory=settings.memory,
                        walltime=settings.walltime, account=settings.account, queue=settings.partition,
                        interface=settings.interface, scheduler_options={"dashboard_address": ":0"})


def open_slurm(settings: Slurm):
    """A client of a SLURMCluster scaled to `settings.jobs` jobs, and its closer, once a worker has started.
    While none has, the pending jobs' reasons are read from squeue (`%r`; the codes:
    https://slurm.schedmd.com/job_reason_codes.html) every SLURM_POLL_S: a request the partition cannot hold
    as configured (UNSCHEDULABLE) stops the study at once with one line naming the reason (an InputError), as
    do jobs that left the queue with no worker after SLURM_START_TIMEOUT_S (a TimeoutError); a busy cluster
    (Priority, Resources) is waited for, and said so once. Either way the cluster is closed: its jobs are
    cancelled, none is left queued."""
    from dask.distributed import Client

    cluster = slurm_cluster(settings)
    try:
        cluster.scale(jobs=settings.jobs)
        client = Client(cluster)
        t0, told = time.monotonic(), False
        while True:
            try:
                client.wait_for_workers(1, timeout=SLURM_POLL_S)
                break
            except TimeoutError:
                pass
            ids = [job.job_id for job in cluster.workers.values() if job.job_id]
            job, reason = _pending_reason(ids)
            waited_s = time.monotonic() - t0
            if reason.split(",")[0] in UNSCHEDULABLE:  # e.g. "ReqNodeNotAvail, UnavailableNodes:node1"
                client.close()
                raise InputError(f"slurm: job {job} cannot start: {reason} (the request, {settings.cores} cores "
                                 f"and {settings.memory} per job, does not fit partition "
                                 f"{settings.partition or 'default'}; ask for less under dask.slurm)")
            if reason == "not in squeue" and waited_s > SLURM_START_TIMEOUT_S:
                client.close()
                raise TimeoutError(f"slurm: jobs {job} left the queue and no Dask worker started within "
                                   f"{SLURM_START_TIMEOUT_S} s; see the jobs' output files")
            if not told and waited_s > SLURM_START_TIMEOUT_S:
                log.warning("slurm: waiting for job %s to start: pending (%s)", job, reason)
                told = True
    except BaseException:
        cluster.close(timeout=CLOSE_TIMEOUT_S)
        raise
    return client, cluster.close


def _pending_reason(ids: list[str]) -> tuple[str, str]:
    """The first of the jobs `ids` still in the queue and its squeue reason, or ("ids", "not in squeue")."""
    out = subprocess.run(["squeue", "-h", "-j", ",".join(ids), "-o", "%i %r"], capture_output=True, text=True,
                         timeout=CONNECT_TIMEOUT_S).stdout.splitlines() if ids else []
    return tuple(out[0].split(maxsplit=1)) if out else (",".join(ids) or "none", "not in squeue")


def local_workers(spec: StudySpec, *, scheduler: str | None, scheduler_file: str | None, slurm: bool,
                  workers: int | None) -> int | None:
    """The workers of the local cluster `open_client` starts (one per core by default), or None where it
    starts none: an existing scheduler or a SLURM cluster (from the arguments or the study file)."""
    d = spec.dask
    if scheduler or d.scheduler or scheduler_file or d.scheduler_file or slurm or d.slurm:
        return None
    return workers or d.workers or os.cpu_count() or 1


def open_client(spec: StudySpec, *, scheduler: str | None, scheduler_file: str | None, slurm: bool,
                workers: int | None):
    """A Dask client and a closer of the cluster this study started (None for an existing scheduler): an
    existing scheduler, a SLURM cluster from the study file, or a local cluster (worker processes, one
    thread each, one worker per core by default; `studies/local_cluster.py`). Unreachable schedulers fail
    within CONNECT_TIMEOUT_S with one line, SLURM jobs that cannot start too (`open_slurm`)."""
    from dask.distributed import Client

    from hostcap.studies.local_cluster import close_local_cluster, local_cluster

    quiet = not logging.getLogger("hostcap").isEnabledFor(logging.INFO)  # no -v
    if quiet:  # importing distributed has just set its logger to INFO (dask's logging config)
        logging.getLogger("distributed").setLevel(logging.WARNING)
    d = spec.dask
    scheduler = scheduler or d.scheduler
    scheduler_file = scheduler_file or d.scheduler_file
    if scheduler or scheduler_file:
        where = scheduler or scheduler_file
        try:
            client = Client(scheduler, scheduler_file=scheduler_file if not scheduler else None,
                            timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise InputError(f"scheduler: cannot reach {where} within {CONNECT_TIMEOUT_S} s "
                             f"({type(exc).__name__})") from None
        return client, None
    if slurm or d.slurm:
        return open_slurm(d.slurm or Slurm())
    n = local_workers(spec, scheduler=scheduler, scheduler_file=scheduler_file, slurm=slurm, workers=workers)
    cluster = local_cluster(n, quiet)
    client = Client(cluster)
    client.wait_for_workers(n, timeout=WORKER_START_TIMEOUT_S)
    if quiet:
        from hostcap.studies.quiet import QuietWorkers

        client.register_plugin(QuietWorkers())
    return client, functools.partial(close_local_cluster, cluster)


@contextlib.contextmanager
def dask_client(spec: StudySpec, **how):
    """A getter of the study's Dask client, opened on first use (a study with nothing to run starts none) and
    closed within bounded time: an interrupted study must end even if a worker does not answer."""
    held = []

    def client():
        if not held:
            held.extend(open_client(spec, **how))
        return held[0]

    try:
        yield client
    finally:
        if held:
            try:
                held[0].close(timeout=CLOSE_TIMEOUT_S)
                if held[1] is not None:
                    held[1](timeout=CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("the Dask cluster did not close within %s s; its processes end with this one",
                            CLOSE_TIMEOUT_S)
