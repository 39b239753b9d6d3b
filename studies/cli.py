"""The `hostcap` command line. Bad input ends with one line on stderr and exit code 2."""
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import click
from pydantic import ValidationError

from hostcap.feeders import DEFAULT_FEEDER
from hostcap.models.choices import STRATEGIES
from hostcap.models.errors import InputError, ModelError
from hostcap.models.limits import BAND_NAMES
from hostcap.studies.errors import did_you_mean, input_error

log = logging.getLogger("hostcap")


def known_strategy(ctx, param, value: str) -> str:
    """`--strategy`: refused while the command line is read, before any work, with the likeliest name."""
    if value not in STRATEGIES:
        raise click.BadParameter(f"unknown strategy '{value}', choose one of {', '.join(STRATEGIES)}"
                                 f"{did_you_mean(value, STRATEGIES)}")
    return value


def parse_outage(text: str):
    """One `--outage START,DURATION[,BUS;BUS...]`, e.g. `2016-01-12T18:00,3h` or `2016-01-12T18:00,90min,12;13`,
    as a `models.outage.OutageWindow`; bad text is an InputError naming the flag (the model names its fields)."""
    from hostcap.models.outage import OutageWindow

    parts = text.split(",")
    if len(parts) not in (2, 3):
        raise InputError(f"--outage: '{text}' is not START,DURATION[,BUS;BUS...]")
    dur = parts[1].strip().lower()
    try:
        hours = float(dur[:-3]) / 60.0 if dur.endswith("min") else float(dur.removesuffix("h"))
        buses = [int(b) for b in parts[2].split(";")] if len(parts) == 3 else None
        return OutageWindow(start=parts[0].strip(), hours=hours, buses=buses)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"--outage: '{text}': {err['loc'][0]}: {err['msg'].removeprefix('Value error, ')}") from None
    except ValueError as exc:
        raise InputError(f"--outage: '{text}': {str(exc).splitlines()[0]}") from None


@click.group()
@click.version_option(package_name="v2g-hostcap", prog_name="hostcap")
@click.option("-v", "--verbose", is_flag=True, help="Log progress messages (Dask's too).")
def cli(verbose: bool):
    """v2g-hostcap: EV, V2G and V2H co-simulation and hosting-capacity studies on real feeders."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for noisy in ("distributed", "dask", "pandapower"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)


@cli.command()
@click.option("--feeder", default=DEFAULT_FEEDER, show_default=True,
              help="simbench:<code>, a pandapower JSON file, or pandapower:<networks function>.")
@click.option("--profiles", default=None, help="CSV/Parquet of load/sgen profiles, or `flat` (rated power every "
              "step); default: SimBench's own, else standard household profiles.")
@click.option("--trips", default=None, help="CSV/Parquet trip table: vehicle, departure, arrival, energy_kwh.")
@click.option("--strategy", default="uncontrolled", show_default=True, callback=known_strategy,
              help=f"One of {', '.join(STRATEGIES)}.")
@click.option("--penetration", default=0.5, show_default=True, type=float,
              help="EVs per household, 0..2 (above 1: every household one, some a second).")
@click.option("--v2g-share", default=0.5, show_default=True, type=float,
              help="Share of EVs that are bidirectional, 0..1.")
@click.option("--start", default="2016-01-11", show_default=True, help="First day, YYYY-MM-DD (ISO 8601).")
@click.option("--days", default=7, show_default=True, type=int)
@click.option("--step-min", default=15.0, show_default=True, type=float, help="Step in minutes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--band", default="en50160", show_default=True, type=click.Choice(BAND_NAMES),
              help="Voltage criterion: en50160 (weekly 95 % statistic), en50160_strict (0.90-1.10 every value), "
              "ansi_a (0.95-1.05), ansi_b (0.917-1.058).")
@click.option("--slack-vm-pu", default=None, type=float, help="MV-side (external grid) voltage, pu; default: the "
              "feeder's own.")
@click.option("--solver", default="fast", show_default=True, help="fast or pandapower (reference: runpp, or "
              "runpp_3ph when unbalanced).")
@click.option("--phases", default="auto", show_default=True, type=click.Choice(["auto", "balanced", "unbalanced"]),
              help="Power flow: balanced, unbalanced (three-phase, each home, charger and PV on its phase), or "
              "auto: unbalanced where the feeder gives single-phase connections.")
@click.option("--export-limit-kw", default=None, type=float,
              help="Meter export limit per household, kW (0: no export; default: no limit).")
@click.option("--q-control", default="none", show_default=True, help="none or volt_var (IEEE 1547-2018 Cat. B).")
@click.option("--peak-target-kw", default="auto", show_default=True,
              help="v2g_peak_shave: transformer import target, kW, or auto (previous day's no-EV peak).")
@click.option("--trafo-export-limit-kw", default=0.0, show_default=True, type=float,
              help="v2g_peak_shave: reverse-flow limit at the transformer, kW.")
@click.option("--tariff", default=None, help="A priced tariff YAML (e.g. studies/tariffs/de_household_2024.yaml): "
              "household bills in customers.parquet; default: the default time-of-use bands, no bills.")
@click.option("--outage", "outages", multiple=True, metavar="START,DURATION[,BUS;BUS]",
              callback=lambda ctx, param, value: tuple(parse_outage(v) for v in value),
              help="A supply outage, e.g. 2016-01-12T18:00,3h (whole feeder) or 2016-01-12T18:00,90min,12;13 "
              "(those buses); repeatable. V2H-capable EVs back up their homes.")
@click.option("--critical-load-share", default=1.0, show_default=True, type=float,
              help="Share of a home's demand its EV serves in an outage.")
@click.option("--v2h-share", default=1.0, show_default=True, type=float,
              help="Share of bidirectional EVs whose home can island in an outage.")
@click.option("--plug-in-probability", default=1.0, show_default=True, type=float,
              help="Chance a driver plugs in on returning home (always when low); Electric Nation: about 0.55.")
@click.option("--heat-pump-share", default=0.0, show_default=True, type=float,
              help="Share of the households with a heat pump, 0..1 (the feeder's own count towards it).")
@click.option("--pv-share", default=0.0, show_default=True, type=float,
              help="Share of the households with rooftop PV, 0..1 (the feeder's own count towards it).")
@click.option("--climate-region", default=4, show_default=True, type=int,
              help="DWD test reference year region of the outdoor temperature, 1-15 (4: Potsdam).")
@click.option("--trafo-criterion", default="loading", show_default=True, type=click.Choice(["loading", "thermal"]),
              help="The transformer's limit: its loading, or IEC 60076-7's hot spot and ageing (thermal).")
@click.option("--reinforce", is_flag=True, help="Also plan what the feeder needs so that the run's worst steps hold "
              "the limits it breaks (standard measures and their cost): reinforcement.csv and reinforced.json in OUT.")
@click.option("--costs", "costs_file", default=None, type=click.Path(dir_okay=False),
              help="The reinforcement cost file (default: studies/costs/de_dena.yaml).")
@click.option("--density", default="rural", show_default=True, type=click.Choice(["rural", "urban"]),
              help="The feeder's population density, for the cable cost (rural: at most 500 people per km²).")
@click.option("--out", default="results/run", show_default=True, type=click.Path(file_okay=False))
def run(out, tariff, outages, critical_load_share, v2h_share, reinforce, costs_file, density, **options):
    """Co-simulate one scenario and write metrics.json, manifest.json, customers.parquet and timeseries/ to
    OUT."""
    from hostcap.models.metrics import NONCONVERGED_MAX_SHARE
    from hostcap.models.outage import BackupShares, Outages
    from hostcap.studies.hosting import violated_criteria
    from hostcap.studies.outputs import check_out, write_run
    from hostcap.studies.scenario.run import run_scenario
    from hostcap.studies.scenario.settings import Scenario, date_span
    from hostcap.studies.tariff_file import load_tariff

    try:
        shares = BackupShares(critical_load_share=critical_load_share, v2h_share=v2h_share)  # with or without
        outage = Outages(windows=list(outages), **dict(shares)) if outages else None
        scenario = Scenario(**options, tariff=tariff and load_tariff(tariff), outages=outage)
    except ValidationError as exc:
        raise input_error(exc) from None
    costs = None
    if reinforce:
        from hostcap.studies.cost_file import SHIPPED, load_costs

        costs = load_costs(costs_file or SHIPPED, density)  # a bad cost file is refused before the run
        if scenario.phases == "unbalanced":
            raise InputError("reinforce: the planner solves balanced power flows; run with --phases balanced")
    check_out(Path(out))
    t0 = time.perf_counter()
    result = run_scenario(scenario, progress=True)
    wall = time.perf_counter() - t0
    write_run(result, Path(out), wall_s=wall)
    m = result.metrics
    click.echo(f"{scenario.strategy}: {m['n_ev']} EVs, v_min {m['v_min_pu']:.3f} / v_max {m['v_max_pu']:.3f} pu "
               f"({m['undervoltage_buses'] + m['overvoltage_buses']} buses break {scenario.band}), trafo max "
               f"{m['trafo_max_loading_pct']:.1f} %, peak {m['peak_demand_kw']:.1f} kW, "
               f"{result.inputs.n_steps} steps in {wall:.1f} s -> {out}")
    click.echo(f"dates: {date_span(scenario.start, scenario.days)}")
    if result.inputs.unbalanced:
        click.echo(f"phases: unbalanced (three-phase power flow): VUF max {m['vuf_max_pct']:.2f} %, weekly 95 % "
                   f"{m['vuf_p95_pct']:.2f} % ({m['unbalance_buses']} buses above EN 50160's 2 %), neutral max "
                   f"{m['neutral_max_ka'] * 1e3:.0f} A")
    else:
        click.echo("phases: balanced (one-phase equivalent power flow; no unbalance figures)")
    click.echo(f"profiles: {result.inputs.feeder.profiles.source}")
    if m["n_heat_pump"]:
        click.echo(f"heat pumps: {m['n_heat_pump']} ({m['heat_pump_kwh']:,.0f} kWh, together at most "
                   f"{m['heat_pump_peak_kw']:.1f} kW; outdoor temperature of DWD TRY region "
                   f"{scenario.climate_region})")
    if "dimmed_h" in m:
        click.echo(f"§14a dimming: {m['dimmed_h']:.2f} h dimmed; EV charging deferred {m['ev_dimmed_kwh']:,.1f} kWh "
                   f"({m['ev_unmet_kwh']:,.1f} kWh unmet at departure); heat deferred "
                   f"{m['heat_deferred_kwh']:,.1f} kWh (a home cooled by at most {m['heat_deficit_max_k']:.2f} K)")
    if m["trafo_hot_spot_max_c"] == m["trafo_hot_spot_max_c"]:  # not NaN: some step converged
        click.echo(f"transformer (IEC 60076-7, ONAN): hot spot at most {m['trafo_hot_spot_max_c']:.1f} °C, top oil "
                   f"{m['trafo_top_oil_max_c']:.1f} °C; ageing {m['trafo_ageing_rate']:.3g} x the rated rate "
                   f"({m['trafo_loss_of_life_days']:.3g} days of life in the run); above the cyclic-loading limits "
                   f"{m['trafo_thermal_overload_hours']:.2f} h")
    broken = violated_criteria(m, scenario.trafo_criterion)
    trafo = (f"{scenario.trafo_limit_pct:g} % transformer" if scenario.trafo_criterion == "loading"
             else "transformer thermal limits")
    click.echo(f"limits ({scenario.band}, {scenario.line_limit_pct:g} % lines, {trafo}): "
               + (f"broken: {', '.join(broken)}" if broken else "none broken"))
    if scenario.tariff is not None:
        c, cur = result.customers(), scenario.tariff.currency
        ev = c[c["n_ev"] > 0]
        per_home = (f", {ev[f'ev_charging_cost_{cur}'].median():.2f} {cur} per EV home (median)" if len(ev)
                    else "")
        click.echo(f"households ({scenario.tariff.name}): bills {c[f'bill_{cur}'].sum():,.2f} {cur} "
                   f"({c[f'bill_no_ev_{cur}'].sum():,.2f} without EVs); EV charging "
                   f"{ev[f'ev_charging_cost_{cur}'].sum():,.2f} {cur}{per_home}; saving against uncontrolled "
                   f"charging {ev[f'saving_vs_uncontrolled_{cur}'].sum():,.2f} {cur}")
    if scenario.outages is not None:
        click.echo(f"outage: {m['outage_home_h']:.1f} home-hours without supply; V2H backup served "
                   f"{m['backup_home_h']:.1f} of them in full ({m['outage_covered_share']:.0%}); unserved "
                   f"{m['outage_unserved_kwh']:.1f} kWh ({m['outage_unserved_no_v2h_kwh']:.1f} kWh without V2H); "
                   f"{m['trips_short_after_outage']} trips short of energy afterwards")
    if scenario.battery_wear is not None and m["n_ev"]:
        v, w = result.vehicles(), scenario.battery_wear
        click.echo(f"battery wear ({w.model}): median fade {v['fade_year_pct'].median():.2f} %/year "
                   f"({v['fade_uncontrolled_year_pct'].median():.2f} % charged uncontrolled); extra "
                   f"{v['extra_fade_year_pct'].median():+.2f} %/year, "
                   f"{v[f'extra_wear_cost_year_{w.currency}'].sum():,.0f} "
                   f"{w.currency}/year for the fleet")
    if costs is not None:
        from hostcap.studies.reinforce import reinforce_run, write_plan

        net, measures, why, steps = reinforce_run(result, costs, scenario.trafo_criterion)
        write_plan(net, measures, Path(out))
        total = sum(x.cost_eur for x in measures)
        click.echo(f"reinforcement ({density} costs, {len(steps)} worst steps): " + (
            f"unsolved: {why}" if why else f"{len(measures)} measures, {total:,.0f} EUR: "
            + "; ".join(f"{x.element}: {x.detail}" for x in measures) if measures else "none needed"))
    if m["nonconverged_share"] > NONCONVERGED_MAX_SHARE:
        click.echo(f"error: the power flow did not converge at {m['nonconverged_steps']} of "
                   f"{result.inputs.n_steps} steps (more than {NONCONVERGED_MAX_SHARE:.0%}); these results "
                   "are not trustworthy", err=True)
        return 1
    return 0


@cli.command()
@click.argument("study_file", default="studies/default.yaml")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Results go to OUT/<study name>/.")
@click.option("--scheduler", default=None, help="Attach to a running Dask scheduler, tcp://HOST:PORT.")
@click.option("--scheduler-file", default=None, help="Attach through a Dask scheduler file.")
@click.option("--slurm", is_flag=True, help="Start a dask-jobqueue SLURMCluster from the study file's dask.slurm.")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Local Dask workers (default: cores).")
@click.option("--samples-per-run", default=None, type=click.IntRange(min=1),
              help="Monte Carlo samples co-simulated together in one run (default: the study file's "
                   "dask.samples_per_run, auto).")
@click.option("--no-hosting", is_flag=True, help="Only run the scenarios (the pipeline's `hosting` step follows).")
@click.option("--checked", default=None, type=click.Path(dir_okay=False),
              help="The `hostcap check-feeders --out` file of this study: its verdicts are taken instead of "
                   "checking every feeder again (ignored if it was made for another study).")
def study(study_file, out, scheduler, scheduler_file, slurm, workers, samples_per_run, no_hosting, checked):
    """Run a hosting-capacity study file on Dask and write results to OUT/<name>/."""
    from hostcap.studies.answer import echo, study_lines
    from hostcap.studies.layout import study_paths
    from hostcap.studies.runner import run_study
    from hostcap.studies.spec import load_spec

    spec = load_spec(study_file)
    t0 = time.perf_counter()
    counts = run_study(spec, out, scheduler=scheduler, scheduler_file=scheduler_file, slurm=slurm,
                       workers=workers, samples_per_run=samples_per_run, hosting=not no_hosting, checked=checked)
    echo(study_lines(spec, study_paths(spec, out), counts, elapsed_s=time.perf_counter() - t0,
                     hosting=not no_hosting))
    return 1 if counts["total"] and counts["failed"] == counts["total"] else 0


STUDY = click.argument("study_file")
OUT = click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False))
FEEDER = click.option("--feeder", "feeder_ref", required=True, help="A feeder of the study (its name).")


def _spec_and_feeder(study_file, feeder_ref=None):
    from hostcap.studies.spec import load_spec

    spec = load_spec(study_file)
    if feeder_ref is not None:
        spec.feeder(feeder_ref)
    return spec


@cli.command("prepare-feeder")
@click.argument("feeder_ref")
@click.option("--name", default=None, help="Name of the output files (default: the reference).")
@click.option("--profiles", default=None, help="CSV/Parquet profiles of the feeder, or `flat`.")
@click.option("--out", default="resources/feeders", show_default=True, type=click.Path(file_okay=False))
def prepare_feeder(feeder_ref, name, profiles, out):
    """Validate a feeder; write its net (JSON) and topology (GeoPackage) to OUT."""
    from hostcap.studies.pipeline import prepare_feeder as prepare

    net_path, gpkg = prepare(feeder_ref, out, name, profiles)
    click.echo(f"{feeder_ref}: {net_path}, {gpkg}")


@cli.command("check-feeders")
@STUDY
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False),
              help="JSON file: the feeders that pass their input checks (file names) and those of feeder sets "
                   "that fail, with the error.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that check feeders side by side (default: the cores this process may use).")
def check_feeders(study_file, out_file, workers):
    """Check every feeder of a study before it runs (the pipeline's first step where the study has feeder sets):
    a member of a set that fails is recorded and left out; a feeder named alone that fails stops (exit 2)."""
    import json

    from hostcap.studies.atomic import write_text
    from hostcap.studies.layout import feeder_slug
    from hostcap.studies.runner import spec_digest, validate_inputs

    spec = _spec_and_feeder(study_file)
    failed = validate_inputs(spec, workers or len(os.sched_getaffinity(0)))
    bad = {f["feeder"] for f in failed}
    usable = [feeder_slug(f.name) for f in spec.feeders if f.name not in bad]
    write_text(json.dumps({"spec": spec_digest(spec), "usable": usable, "failed": failed}, indent=2) + "\n",
               Path(out_file))
    for f in failed:
        click.echo(f"feeder {f['feeder']} ({f['source']}) left out: {f['error']}", err=True)
    click.echo(f"{len(usable)} of {len(spec.feeders)} feeders pass their checks")


@cli.command()
@STUDY
@OUT
def hosting(study_file, out):
    """Hosting capacity and locational results from a study's runs."""
    from hostcap.studies.answer import answer, echo
    from hostcap.studies.layout import study_paths
    from hostcap.studies.runner import write_hosting

    spec = _spec_and_feeder(study_file)
    write_hosting(spec, out)
    echo(answer(spec, study_paths(spec, out)))


@cli.command()
@STUDY
@FEEDER
@OUT
def gis(study_file, feeder_ref, out):
    """GeoPackage of one feeder with the study's results (layers buses, lines, transformers)."""
    from hostcap.studies.pipeline import write_gis

    click.echo(write_gis(_spec_and_feeder(study_file, feeder_ref), out, feeder_ref))


@cli.command("map")
@STUDY
@FEEDER
@click.option("--variant", "variant_names", multiple=True,
              help="Strategy (with _bNNN when the study has several shares); repeatable; default: every variant.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["lowest", "voltage"]),
              help="What the map shows; repeatable; default: both.")
@OUT
def map_(study_file, feeder_ref, variant_names, kinds, out):
    """Static PNG maps of one feeder: each variant by each kind."""
    from hostcap.studies.pipeline import write_maps

    for path in write_maps(_spec_and_feeder(study_file, feeder_ref), out, feeder_ref, list(variant_names),
                           list(kinds)):
        click.echo(path)


@cli.command()
@STUDY
@FEEDER
@OUT
@click.option("--basemap", is_flag=True, help="Draw OpenStreetMap tiles under the feeder (needs the web to show "
              "them; without, the map works offline).")
def webmap(study_file, feeder_ref, out, basemap):
    """Interactive HTML map of one feeder (works offline), a layer per strategy and level."""
    from hostcap.studies.pipeline import write_webmap

    click.echo(write_webmap(_spec_and_feeder(study_file, feeder_ref), out, feeder_ref, basemap=basemap))


@cli.command("fleet-map")
@STUDY
@OUT
def fleet_map_(study_file, out):
    """The fleet map: every feeder at its substation, coloured by its hosting capacity or first year."""
    from hostcap.studies.pipeline import write_fleet_map

    click.echo(write_fleet_map(_spec_and_feeder(study_file), out))


@cli.command()
@STUDY
@OUT
def report(study_file, out):
    """The study's report: self-contained report.html and the same printed as report.pdf."""
    from hostcap.studies.pipeline import write_report

    for path in write_report(_spec_and_feeder(study_file), out):
        click.echo(path)


@cli.command()
def schema():
    """Print the JSON schema of study files."""
    from hostcap.studies.spec import json_schema

    click.echo(json_schema(), nl=False)


def _interrupt(signum, frame):
    runner = sys.modules.get("hostcap.studies.runner")
    if runner is not None:  # a study is running: its wait loop sees this even if a library swallows the raise
        runner.INTERRUPTED.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and exit 2 for bad input or usage; 1 when a run or study did not give a
    trustworthy answer; 130 when interrupted (SIGINT or SIGTERM: finished study runs are kept)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
    try:
        rv = cli.main(args=argv, prog_name="hostcap", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except ModelError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except OSError as exc:  # a full disk, a folder that went away: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 1
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted: finished runs are kept; run the same command again to resume", err=True)
        return 130
    return rv if isinstance(rv, int) else 0


def entry() -> None:
    """Console script `hostcap`: its exit code is main()'s, once its output is flushed. The process ends
    without the interpreter's teardown (`os._exit`): pyarrow's thread pool can abort that teardown
    ("terminate called without an active exception", exit -6) after the command's work is done and
    written, intermittently (apache/arrow#34314; measured here: a script that reads a study's records with
    pandas aborted in 11 of 300 runs with a plain exit, in none of 300 ending with os._exit), which would
    fail a finished study or a pipeline rule. What teardown would do is done before: the
    study's Dask cluster and lock are closed by main(), the logs and streams are flushed here."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
