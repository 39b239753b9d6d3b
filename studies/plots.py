"""Figures of one run (matplotlib, Agg backend): the run summary written as DIR/summary.png."""
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hostcap.models.limits import voltage_band  # noqa: E402
from hostcap.studies.scenario.result import RunResult  # noqa: E402


def run_summary(result: RunResult, path: Path) -> None:
    """Bus-voltage envelope against the band, transformer loading, slack power and EV power over time."""
    s, idx, sc = result.series, result.inputs.index, result.scenario
    band = voltage_band(sc.band)
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True, constrained_layout=True)
    ax = axes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # steps with every bus dark (an outage) or diverged
        vmin, vmax = np.nanmin(result.vm_phases, axis=(1, 2)), np.nanmax(result.vm_phases, axis=(1, 2))
        trafo, line = np.nanmax(s["trafo_loading_pct"], axis=1), np.nanmax(s["line_loading_pct"], axis=1)
    ax.fill_between(idx, vmin, vmax, alpha=0.5, label="all buses (min-max)")
    for v in (band.v_min_pu, band.v_max_pu):
        ax.axhline(v, color="red", lw=1, ls="--")
    ax.set_ylabel("voltage (pu)")
    ax.set_title(f"{sc.feeder} | {sc.strategy}, {sc.penetration:.0%} EVs, {sc.v2g_share:.0%} bidirectional"
                 f" | band: {band.source}", fontsize=9)
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    ax.plot(idx, trafo, label="transformer (max)")
    ax.plot(idx, line, label="lines (max)", lw=0.8)
    ax.axhline(100, color="red", lw=1, ls="--")
    ax.set_ylabel("loading (%)")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    ax.plot(idx, s["p_slack_mw"] * 1e3, label="feeder demand at the slack")
    ax.plot(idx, s["ev_p_kw"].sum(axis=1), label="all EVs (>0 charging)", lw=0.8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("power (kW)")
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=90)
    plt.close(fig)
