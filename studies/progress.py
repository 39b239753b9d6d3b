"""A study's progress: one bar for all its rounds, labelled with the round, whose time left is shown only
once it means something.

An adaptive study (`studies/adaptive.py`) learns each round's runs only when the previous round ends, so
the bar's total grows round by round ("round 2: +120 runs") instead of a new bar per round. Its rate is the
mean since the bar started (tqdm `smoothing=0`), not a moving average of the last few batches, and no time
left is shown before `ETA_AFTER_SHARE` of the known runs, and at least `ETA_AFTER_RUNS`, are done: the first
batches pay each worker's start (imports, compiled kernels, the feeder's set-up) and arrive together, so an
estimate from them was off by two orders of magnitude (25 h shown for a study that took 15 minutes).
"""
from tqdm import tqdm

ETA_AFTER_SHARE = 0.1
ETA_AFTER_RUNS = 8
BAR = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} runs [{elapsed}"
WITH_ETA = BAR + " elapsed, {remaining} left]"
WITHOUT_ETA = BAR + " elapsed]"


class StudyProgress:
    """Shown from the first round on: a study with nothing to run, or one that fails before it runs
    anything, prints no bar."""

    def __init__(self, name: str, *, enabled: bool = True):
        self.name, self.enabled, self.round, self.bar = name, enabled, 0, None

    def next_round(self, n_runs: int) -> None:
        """A round of n_runs more runs starts."""
        self.round += 1
        label = self.name if self.round == 1 else f"{self.name} round {self.round} (+{n_runs})"
        if self.bar is None:
            self.bar = tqdm(total=n_runs, desc=f"{label}: ", unit="run", smoothing=0, bar_format=WITHOUT_ETA,
                            disable=not self.enabled)
            return
        self.bar.total += n_runs
        self.bar.set_description(label, refresh=False)
        self.bar.bar_format = WITHOUT_ETA
        self.bar.refresh()

    def update(self, n_runs: int) -> None:
        """n_runs more runs finished."""
        self.bar.update(n_runs)
        if self.bar.n >= max(ETA_AFTER_RUNS, ETA_AFTER_SHARE * self.bar.total):
            self.bar.bar_format = WITH_ETA

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
