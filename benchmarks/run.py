"""Benchmark: our closed-loop co-simulation vs pandapower's run_timeseries on the same feeder and steps.

    python benchmarks/run.py            # full: a closed-loop year, pandapower over a week, each strategy over
                                        # two winter weeks, the MV+LV week
    python benchmarks/run.py --quick    # ours over 28 days, pandapower over 2 days, no MV+LV

Prints a Markdown table (ms per 15-minute step, extrapolated year, ratio), the machine it ran on and its
load. Measured as a user runs it: no CPU pinning, default thread settings (a run limits its own BLAS
threads to one, see `cosim/world.py`). Speed targets live here, never in the test suite.
"""
import argparse
import logging
import multiprocessing as mp
import os
import platform
import resource
import time
import warnings

DEFAULT = "simbench:1-LV-rural3--0-sw"
MVLV = "simbench:1-MVLV-semiurb-all-0-sw"
YEAR_STEPS = 35136


def ours(feeder: str, days: int, solver: str = "fast") -> dict:
    from hostcap.cosim.scenario import Scenario, build_inputs
    from hostcap.cosim.world import run_scenario

    sc = Scenario(feeder=feeder, strategy="volt_watt", penetration=1.0, v2g_share=0.5, days=days,
                  start="2016-01-01", solver=solver)
    t0 = time.perf_counter()
    build_inputs(sc)
    t1 = time.perf_counter()
    result = run_scenario(sc)
    t2 = time.perf_counter()
    n = result.inputs.n_steps
    return {"steps": n, "run_s": t2 - t1, "setup_s": t1 - t0, "ms_per_step": (t2 - t1) / n * 1e3,
            "n_trafo": len(result.inputs.feeder.net.trafo),
            "trafo_reported": int(result.series["trafo_loading_pct"].shape[1])}


STRATEGY_ROWS = ("uncontrolled", "smart", "v2g_tou", "v2h", "volt_watt", "v2g_peak_shave", "v2g_optimal")


def per_strategy(days: int, repeats: int = 3) -> dict[str, dict]:
    """Every strategy on the default feeder, 100 % EVs, all bidirectional, `days` days from the winter week:
    ms per step of the closed-loop run, the fastest of `repeats` runs taken in turn (single runs vary by
    tens of percent on a shared machine); the v2g_optimal row includes its linear programmes, solved when
    the run starts."""
    from hostcap.cosim.scenario import Scenario, build_inputs
    from hostcap.cosim.world import run_scenario

    scenarios = {s: Scenario(strategy=s, penetration=1.0, v2g_share=1.0, days=days, start="2016-01-11")
                 for s in STRATEGY_ROWS}
    for sc in scenarios.values():
        build_inputs(sc)
        run_scenario(sc.model_copy(update={"sample": 1, "days": 1}))  # warm: baseline, caches, compiled code
    rows = {}
    for _ in range(repeats):
        for strategy, sc in scenarios.items():
            t0 = time.perf_counter()
            r = run_scenario(sc)
            ms = (time.perf_counter() - t0) / r.inputs.n_steps * 1e3
            best = rows.get(strategy, {}).get("ms_per_step", float("inf"))
            rows[strategy] = {"steps": r.inputs.n_steps, "ms_per_step": min(ms, best),
                              "peak_kw": r.metrics["peak_demand_kw"]}
    return rows


def optimal_week_s() -> float:
    """Seconds the v2g_optimal programmes of the default feeder's winter week take (100 % EVs, all
    bidirectional), the fastest of three."""
    from hostcap.cosim.base_case import no_ev_slack_kw
    from hostcap.cosim.scenario import Scenario, build_inputs
    from hostcap.models.optimal import optimal_schedule

    sc = Scenario(strategy="v2g_optimal", penetration=1.0, v2g_share=1.0, days=7, start="2016-01-11")
    inp, other = build_inputs(sc), no_ev_slack_kw(sc)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        optimal_schedule(inp.fleet, inp.mobility, other_kw=other, price=inp.price_per_kwh, n_steps=inp.n_steps,
                         dt_h=inp.dt_s / 3600.0, setpoint_h=sc.setpoint_h)
        best = min(best, time.perf_counter() - t0)
    return best


def customer_side(days: int, repeats: int = 3) -> dict[str, dict]:
    """What the customer side adds to a run of the default feeder (100 % EVs, all bidirectional, a July
    week from 2016-07-04, the German default tariff): the run itself, the households' economics
    (`customers()` without wear), and the battery wear of every EV (`vehicles()`): cold (BLAST-Lite on the
    run's traces and on the uncontrolled counterfactual's) and with the counterfactual already computed, as
    it is for every strategy and level of a sample after the first in the same worker. Fastest of `repeats`."""
    from pathlib import Path

    from hostcap.cosim.scenario import Scenario
    from hostcap.cosim.world import RunResult, run_scenario
    from hostcap.models.tariff import load_tariff
    from hostcap.models.wear import _fade, fleet_fade

    tariff = load_tariff(Path(__file__).parents[1] / "studies" / "tariffs" / "de_household_2024.yaml")
    rows = {}
    for strategy in ("smart", "v2g_tou", "v2h"):
        sc = Scenario(strategy=strategy, penetration=1.0, v2g_share=1.0, days=days, start="2016-07-04", tariff=tariff)
        run_scenario(sc.model_copy(update={"days": 1}))  # warm
        best = dict.fromkeys(("run_s", "economics_s", "wear_cold_s", "wear_warm_s"), float("inf"))
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = run_scenario(sc)
            t1 = time.perf_counter()
            # the same run without wear: its customers() is the economics alone (the counterfactual included)
            RunResult(sc.model_copy(update={"battery_wear": None}), r.inputs, r.metrics, r.series, r.totals).customers()
            t2 = time.perf_counter()
            _fade.cache_clear()
            r.vehicles()
            t3 = time.perf_counter()
            _fade.cache_clear()
            f = r.inputs.fleet
            fleet_fade(r.charging_only[1], initial_e_kwh=f.initial_e_kwh, capacity_kwh=f.capacity_kwh,
                       index=r.inputs.index, dt_s=r.inputs.dt_s, wear=sc.battery_wear)
            t4 = time.perf_counter()
            r.vehicles()
            t5 = time.perf_counter()
            for k, v in zip(best, (t1 - t0, t2 - t1, t3 - t2, t5 - t4)):
                best[k] = min(best[k], v)
        rows[strategy] = best
    return rows


def pandapower_timeseries(feeder_code: str, steps: int) -> dict:
    """pandapower's own open-loop time series with the feeder's SimBench profiles (ConstControl)."""
    import pandapower.timeseries as ts
    import simbench as sb

    net = sb.get_simbench_net(feeder_code)
    profiles = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    sb.apply_const_controllers(net, profiles)
    t0 = time.perf_counter()
    ts.run_timeseries(net, time_steps=range(steps), verbose=False)
    el = time.perf_counter() - t0
    return {"steps": steps, "run_s": el, "ms_per_step": el / steps * 1e3}


def _mvlv(days: int, queue) -> None:
    warnings.filterwarnings("ignore")
    queue.put(ours(MVLV, days))


def mvlv_week(days: int) -> dict:
    """The MV+LV run in a child process, so that its peak memory (max RSS) is its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_mvlv, args=(days, queue))
    proc.start()
    out = queue.get()
    proc.join()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, not pinned, Python {platform.python_version()}, {platform.system()}"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    load_before = load()
    days, pp_steps = (28, 192) if args.quick else (366, 672)
    code = DEFAULT.split(":", 1)[1]
    a = ours(DEFAULT, days)
    b = pandapower_timeseries(code, pp_steps)
    rows = [
        ("ours: mosaik + fast solver, volt_watt closed loop, 100 % EVs, 50 % V2G", a),
        ("pandapower run_timeseries, open loop, feeder profiles only", b),
    ]
    print(f"Feeder {DEFAULT} (129 buses, 118 loads); machine: {machine()}; before: {load_before}, "
          f"after: {load()}\n")
    print("| stack | steps run | ms per 15-min step | one year (35,136 steps) | ratio vs ours |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        year = r["ms_per_step"] * YEAR_STEPS / 1e3
        print(f"| {name} | {r['steps']} | {r['ms_per_step']:.3f} | {year:.1f} s | "
              f"{r['ms_per_step'] / a['ms_per_step']:.1f}x |")
    print(f"\nours, setup (feeder load + scenario build) {a['setup_s']:.1f} s, not in the per-step figure")
    rows = per_strategy(2 if args.quick else 14)
    base = rows["uncontrolled"]["ms_per_step"]
    print("\n| strategy (default feeder, 100 % EVs, all bidirectional, winter) | steps | ms per step | vs uncontrolled "
          "| peak kW |")
    print("|---|---|---|---|---|")
    for strategy, r in rows.items():
        print(f"| {strategy} | {r['steps']} | {r['ms_per_step']:.3f} | {r['ms_per_step'] / base:.2f}x | "
              f"{r['peak_kw']:.1f} |")
    print(f"\nv2g_optimal: the winter week's seven linear programmes take {optimal_week_s():.2f} s")
    rows = customer_side(2 if args.quick else 7)
    print("\n| customer side (default feeder, 100 % EVs, all bidirectional, July, DE tariff) | run s | economics s "
          "| wear s, cold | wear s, counterfactual cached | economics + wear (cached) vs run |")
    print("|---|---|---|---|---|---|")
    for strategy, r in rows.items():
        added = (r["economics_s"] + r["wear_warm_s"]) / r["run_s"]
        print(f"| {strategy} | {r['run_s']:.2f} | {r['economics_s']:.3f} | {r['wear_cold_s']:.2f} | "
              f"{r['wear_warm_s']:.2f} | {added:.0%} |")
    if not args.quick:
        m = mvlv_week(7)
        print(f"\nMV+LV {MVLV} (9,099 buses, 8,772 loads): one week closed loop, {m['steps']} steps: "
              f"{m['run_s']:.1f} s run + {m['setup_s']:.1f} s setup, {m['ms_per_step']:.1f} ms/step, "
              f"peak memory {m['peak_rss_mb']:.0f} MB, loading reported for {m['trafo_reported']} of "
              f"{m['n_trafo']} transformers")


if __name__ == "__main__":
    main()
