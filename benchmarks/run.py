"""Benchmark: our closed-loop co-simulation, S Monte Carlo samples per mosaik world, vs power-grid-model's
batch power flow and pandapower's run_timeseries on the same feeder.

    python benchmarks/run.py            # full: S = 1 over a closed-loop year, S = 10 and 50 over 28 days,
                                        # pandapower over a week, each strategy over two winter weeks, the
                                        # MV+LV week at S = 10
    python benchmarks/run.py --quick    # ours over 7 days, pandapower over 2 days, no MV+LV

Prints Markdown tables (ms per 15-minute step of one sample, extrapolated year, ratio), the machine it ran
on and its load. Measured as a user runs it: no CPU pinning, default thread settings (a run limits its own
BLAS threads to one, see `cosim/world.py`; power-grid-model runs its batch on one thread). Targets (issue
14): S = 10 on the default feeder <= 0.03 ms per sample-step; the MV+LV feeder at S = 10 <= 1.5 ms per
sample-step and <= 8 GB; (issue 13) an unbalanced week on the default feeder within 3x of the balanced
run's time per step. Speed targets live here, never in the test suite. power-grid-model comes with the
`bench` extra (`pip install -e .[bench]`).

The full run also writes its first table (ours vs power-grid-model and pandapower), with the date, version and
machine, to `docs/performance_table.md`, which the documentation site's performance page includes; `--quick`
only prints.
"""
import argparse
import logging
import multiprocessing as mp
import os
import platform
import resource
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

DEFAULT = "simbench:1-LV-rural3--0-sw"
TABLE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance_table.md"
MVLV = "simbench:1-MVLV-semiurb-all-0-sw"
YEAR_STEPS = 35136


def ours(feeder: str, days: int, samples: int = 1, solver: str = "fast", phases: str = "auto") -> dict:
    """`samples` samples of one scenario (volt_watt, 100 % EVs, half bidirectional) in one world; ms per
    sample-step of the run (its inputs built before the clock starts)."""
    from hostcap.studies.scenario.inputs import build_batch
    from hostcap.studies.scenario.run import run_batch
    from hostcap.studies.scenario.settings import Scenario

    base = Scenario(feeder=feeder, strategy="volt_watt", penetration=1.0, v2g_share=0.5, days=days,
                    start="2016-01-01", solver=solver, phases=phases)
    scenarios = [base.model_copy(update={"sample": k, "key": f"s{k}"}) for k in range(samples)]
    run_batch([base.model_copy(update={"sample": samples, "days": 1})])  # warm: feeder, baseline, compiled code
    t0 = time.perf_counter()
    build_batch(scenarios)
    t1 = time.perf_counter()
    results = run_batch(scenarios)
    t2 = time.perf_counter()
    n = results[0].inputs.n_steps
    return {"steps": n, "samples": samples, "run_s": t2 - t1, "setup_s": t1 - t0,
            "ms_per_step": (t2 - t1) / (n * samples) * 1e3, "n_trafo": len(results[0].inputs.feeder.net.trafo),
            "trafo_reported": int(results[0].series["trafo_loading_pct"].shape[1])}


def pgm_batch(feeder_code: str, steps: int) -> dict:
    """power-grid-model's batch power flow, open loop, with the feeder's SimBench profiles (one thread)."""
    import simbench as sb
    from power_grid_model import PowerGridModel, initialize_array
    from power_grid_model_io.converters import PandaPowerConverter

    net = sb.get_simbench_net(feeder_code)
    profiles = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    net.trafo["vector_group"] = "Dyn5"  # SimBench leaves it empty; the converter needs one (balanced: no effect)
    conv = PandaPowerConverter()
    input_data, _ = conv.load_input_data(net)
    load = initialize_array("update", "sym_load", (steps, len(net.load)))
    load["id"] = [conv.get_id("load", i, name="const_power") for i in net.load.index]
    load["p_specified"] = profiles[("load", "p_mw")].to_numpy()[:steps] * 1e6
    load["q_specified"] = profiles[("load", "q_mvar")].to_numpy()[:steps] * 1e6
    gen = initialize_array("update", "sym_gen", (steps, len(net.sgen)))
    gen["id"] = [conv.get_id("sgen", i) for i in net.sgen.index]
    gen["p_specified"] = profiles[("sgen", "p_mw")].to_numpy()[:steps] * 1e6
    gen["q_specified"] = 0.0
    model = PowerGridModel(input_data)
    t0 = time.perf_counter()
    model.calculate_power_flow(update_data={"sym_load": load, "sym_gen": gen}, threading=-1)
    el = time.perf_counter() - t0
    return {"steps": steps, "run_s": el, "ms_per_step": el / steps * 1e3}


STRATEGY_ROWS = ("uncontrolled", "smart", "v2g_tou", "v2h", "volt_watt", "v2g_peak_shave", "v2g_optimal")


def per_strategy(days: int, repeats: int = 3) -> dict[str, dict]:
    """Every strategy on the default feeder, 100 % EVs, all bidirectional, `days` days from the winter week:
    ms per step of the closed-loop run, the fastest of `repeats` runs taken in turn (single runs vary by
    tens of percent on a shared machine); the v2g_optimal row includes its programmes (hourly setpoints, as
    the shipped studies run it), solved when the run starts."""
    from hostcap.studies.scenario.inputs import build_inputs
    from hostcap.studies.scenario.run import run_scenario
    from hostcap.studies.scenario.settings import Scenario

    scenarios = {s: Scenario(strategy=s, penetration=1.0, v2g_share=1.0, days=days, start="2016-01-11",
                             optimal_setpoint_min=60) for s in STRATEGY_ROWS}
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


def optimal_week_s(setpoint_h: float | None, repeats: int) -> tuple[float, float]:
    """(seconds, planned peak kW) of the v2g_optimal programme of the default feeder's winter week (100 % EVs,
    all bidirectional) with setpoints every `setpoint_h` hours (None: every step, the bound), the fastest of
    `repeats`."""
    from hostcap.models.optimal import optimal_schedule
    from hostcap.models.wear import discharge_wear_cost
    from hostcap.studies.scenario.base_case import no_ev_slack_kw
    from hostcap.studies.scenario.inputs import build_inputs
    from hostcap.studies.scenario.settings import Scenario

    sc = Scenario(strategy="v2g_optimal", penetration=1.0, v2g_share=1.0, days=7, start="2016-01-11")
    inp, other = build_inputs(sc), no_ev_slack_kw(sc)
    best, p = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = optimal_schedule(inp.fleet, inp.mobility, other_kw=other, price=None, n_steps=inp.n_steps,
                             dt_h=inp.dt_s / 3600.0, setpoint_h=setpoint_h,
                             wear_cost_per_kwh=discharge_wear_cost(sc.battery_wear))
        best = min(best, time.perf_counter() - t0)
    return best, float((other + p.sum(axis=1)).max())


def customer_side(days: int, repeats: int = 3) -> dict[str, dict]:
    """What the customer side adds to a run of the default feeder (100 % EVs, all bidirectional, a July
    week from 2016-07-04, the German default tariff): the run itself, the households' economics
    (`customers()` without wear), and the battery wear of every EV (`vehicles()`): cold (BLAST-Lite on the
    run's traces and on the uncontrolled counterfactual's) and with the counterfactual already computed, as
    it is for every strategy and level of a sample after the first in the same worker. Fastest of `repeats`."""
    from pathlib import Path

    from hostcap.models.wear import _fade, fleet_fade
    from hostcap.studies.scenario.result import RunResult
    from hostcap.studies.scenario.run import run_scenario
    from hostcap.studies.scenario.settings import Scenario
    from hostcap.studies.tariff_file import load_tariff

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


IEEE_LV = "pandapower:ieee_european_lv_asymmetric"


def runpp_3ph_snapshot_s() -> tuple[float, float]:
    """pandapower's runpp_3ph on the IEEE European LV feeder's on-peak snapshot: one call (after a first that
    builds its model), and a call restarted until converged to 1e-9 pu as our reference solver runs it."""
    import pandapower as pp
    import pandapower.networks as pn

    from hostcap.feeders.powerflow.three_phase import _runpp_3ph_converged

    net = pn.ieee_european_lv_asymmetric("on_peak_566")
    pp.runpp_3ph(net)
    t0 = time.perf_counter()
    pp.runpp_3ph(net)
    t1 = time.perf_counter()
    _runpp_3ph_converged(net)
    return t1 - t0, time.perf_counter() - t1


def phases_rows(quick: bool) -> list[tuple[str, dict]]:
    """Balanced against unbalanced (three-phase) closed-loop runs, and pandapower's runpp_3ph per step."""
    week = 7
    rows = [("default feeder, balanced, S = 1", ours(DEFAULT, week, phases="balanced")),
            ("default feeder, unbalanced (three-phase fast solver), S = 1", ours(DEFAULT, week, phases="unbalanced")),
            ("default feeder, balanced, S = 10", ours(DEFAULT, week, 10, phases="balanced")),
            ("default feeder, unbalanced, S = 10", ours(DEFAULT, week, 10, phases="unbalanced")),
            ("default feeder, unbalanced, runpp_3ph every step (reference solver)",
             ours(DEFAULT, 1, solver="pandapower", phases="unbalanced")),
            ("IEEE European LV (907 buses, its own phases), unbalanced, S = 1", ours(IEEE_LV, 1 if quick else week))]
    one, converged = runpp_3ph_snapshot_s()
    rows.append(("IEEE European LV, runpp_3ph one call (open loop, 3e-8 MVA outer tolerance)",
                 {"steps": 1, "ms_per_step": one * 1e3}))
    rows.append(("IEEE European LV, runpp_3ph restarted to 1e-9 pu (our reference solver)",
                 {"steps": 1, "ms_per_step": converged * 1e3}))
    return rows


def _mvlv(days: int, samples: int, queue) -> None:
    warnings.filterwarnings("ignore")
    queue.put(ours(MVLV, days, samples))


def mvlv_week(days: int, samples: int) -> dict:
    """The MV+LV run in a child process, so that its peak memory (max RSS) is its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_mvlv, args=(days, samples, queue))
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


def write_table_page(head: str, table: list[str], setup: str) -> None:
    """The first table, as the performance page of the documentation includes it (written to a temporary name,
    then renamed)."""
    from hostcap import __version__

    when = datetime.now(UTC).strftime("%Y-%m-%d, %H:%M UTC")
    text = (f"<!-- written by benchmarks/run.py (the full run); edit the benchmark, not this file -->\n\n"
            f"Measured {when}, version {__version__}, `python benchmarks/run.py`. {head}. S is the number of "
            f"Monte Carlo samples co-simulated in one mosaik world; times are per 15-minute step of one sample.\n\n"
            + "\n".join(table) + f"\n\n{setup[0].upper()}{setup[1:]}.\n")
    tmp = TABLE_PAGE.with_name(f".{TABLE_PAGE.name}.tmp")
    tmp.write_text(text)
    tmp.replace(TABLE_PAGE)
    print(f"\n(first table written to {TABLE_PAGE})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    load_before = load()
    days, batch_days, pp_steps = (7, 7, 192) if args.quick else (366, 28, 672)
    code = DEFAULT.split(":", 1)[1]
    a = ours(DEFAULT, days)
    rows = [(f"ours: mosaik + fast solver, volt_watt closed loop, 100 % EVs, 50 % V2G, S = {s} samples per world",
             ours(DEFAULT, batch_days, s) if s > 1 else a) for s in (1, 10, 50)]
    rows += [("power-grid-model batch power flow, open loop, feeder profiles only", pgm_batch(code, pp_steps * 4)),
             ("pandapower run_timeseries, open loop, feeder profiles only", pandapower_timeseries(code, pp_steps))]
    head = f"Feeder {DEFAULT} (129 buses, 118 loads); machine: {machine()}; before: {load_before}, after: {load()}"
    table = ["| stack | steps run | ms per 15-min step of one sample | one year of one sample | ratio vs ours, S = 1 |",
             "|---|---|---|---|---|"]
    for name, r in rows:
        year = r["ms_per_step"] * YEAR_STEPS / 1e3
        table.append(f"| {name} | {r['steps']} | {r['ms_per_step']:.3f} | {year:.1f} s | "
                     f"{r['ms_per_step'] / a['ms_per_step']:.2f}x |")
    setup = f"ours, setup (feeder load + scenario build) {a['setup_s']:.1f} s, not in the per-step figure"
    print(head + "\n\n" + "\n".join(table) + "\n\n" + setup)
    if not args.quick:
        write_table_page(head, table, setup)
    rows = phases_rows(args.quick)
    base = rows[0][1]["ms_per_step"]
    print("\n| phases (volt_watt closed loop, 100 % EVs, 50 % V2G, January) | steps | ms per step of one sample | "
          "vs balanced, default feeder |")
    print("|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['steps']} | {r['ms_per_step']:.3f} | {r['ms_per_step'] / base:.2f}x |")
    rows = per_strategy(2 if args.quick else 14)
    base = rows["uncontrolled"]["ms_per_step"]
    print("\n| strategy (default feeder, 100 % EVs, all bidirectional, winter) | steps | ms per step | vs uncontrolled "
          "| peak kW |")
    print("|---|---|---|---|---|")
    for strategy, r in rows.items():
        print(f"| {strategy} | {r['steps']} | {r['ms_per_step']:.3f} | {r['ms_per_step'] / base:.2f}x | "
              f"{r['peak_kw']:.1f} |")
    for label, setpoint_h, repeats in (("hourly setpoints", 1.0, 3), ("quarter-hour setpoints (the bound)", None, 1)):
        seconds, peak = optimal_week_s(setpoint_h, repeats)
        print(f"\nv2g_optimal, {label}: the winter week's programme takes {seconds:.2f} s, plans {peak:.1f} kW")
    rows = customer_side(2 if args.quick else 7)
    print("\n| customer side (default feeder, 100 % EVs, all bidirectional, July, DE tariff) | run s | economics s "
          "| wear s, cold | wear s, counterfactual cached | economics + wear (cached) vs run |")
    print("|---|---|---|---|---|---|")
    for strategy, r in rows.items():
        added = (r["economics_s"] + r["wear_warm_s"]) / r["run_s"]
        print(f"| {strategy} | {r['run_s']:.2f} | {r['economics_s']:.3f} | {r['wear_cold_s']:.2f} | "
              f"{r['wear_warm_s']:.2f} | {added:.0%} |")
    if not args.quick:
        m = mvlv_week(7, 10)
        print(f"\nMV+LV {MVLV} (9,099 buses, 8,772 loads): one week closed loop, S = 10, {m['steps']} steps: "
              f"{m['run_s']:.1f} s run + {m['setup_s']:.1f} s setup, {m['ms_per_step']:.2f} ms per sample-step, "
              f"peak memory {m['peak_rss_mb']:.0f} MB, loading reported for {m['trafo_reported']} of "
              f"{m['n_trafo']} transformers")


if __name__ == "__main__":
    main()
