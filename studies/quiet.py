"""Local Dask workers that keep a failing task's traceback to themselves.

A worker logs every failing task at ERROR level with its traceback ("Compute Failed") on the terminal; the
study's client already records each failure and prints each distinct error as one line, so unless `-v` is
given the local workers log only what is critical. A worker plugin, so that a worker restarted by its nanny
is quiet too.
"""
import logging

from distributed import WorkerPlugin


class QuietWorkers(WorkerPlugin):
    name = "hostcap-quiet-workers"

    def setup(self, worker) -> None:
        logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)
