# v2g-hostcap pipeline: prepare feeders -> run the study on Dask -> hosting capacity -> GIS -> maps -> report.
#
#   snakemake --cores all                                  # the default study (studies/default.yaml)
#   snakemake --cores all --configfile studies/other.yaml  # another study file
#   snakemake --profile profiles/slurm                     # on a SLURM cluster
#
# The config is a study file, validated before anything runs. Every rule calls the `hostcap` CLI, which
# calls the same functions as a user does; every rule has a log and a benchmark file. Every value in a shell
# command is quoted by Snakemake (`:q`, shlex): a feeder name or path from the study file is one argument,
# never shell code.
import json
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from hostcap.models.errors import InputError
from hostcap.studies.layout import RESULTS, feeder_slug, prepared_feeder, spec_copy, study_paths
from hostcap.studies.spec import load_spec, parse_spec
from hostcap.studies.variants import variants

# no `configfile:` directive: Snakemake would merge a --configfile into it, so a study file's missing field
# would silently take the default study's value instead of the documented default the CLI uses
# relative paths in the study file (feeders, profiles, trips) are relative to the study file itself
CONFIG_DIR = Path(workflow.configfiles[-1]).resolve().parent if workflow.configfiles else Path.cwd()
try:
    SPEC = parse_spec(config, "config", base_dir=CONFIG_DIR) if config else load_spec("studies/default.yaml")
except InputError as exc:
    sys.stderr.write(f"error: {exc}\n")
    sys.exit(2)

# every path from the one layout (`studies/layout.py`); "{feeder}" is a wildcard, "{variant}" and "{kind}" are
# expanded (one `maps` job draws a feeder's every map)
NAME = SPEC.name
OUT = study_paths(SPEC, RESULTS)
SPEC_FILE = str(spec_copy(NAME))
NET, TOPOLOGY = (str(p) for p in prepared_feeder("{feeder}"))
GIS, WEBMAP, MAP = str(OUT.gis("{feeder}")), str(OUT.webmap("{feeder}")), str(OUT.static_map("{feeder}", "{variant}", "{kind}"))
FEEDERS = {feeder_slug(f.name): f for f in SPEC.feeders}
VARIANTS = variants(SPEC)
# with feeder sets, a checkpoint checks every feeder first and the rest of the pipeline runs on those that pass
# (`hostcap check-feeders`); a feeder named alone that fails stops the pipeline there, as `hostcap study` would
HAS_SETS = any(f.source for f in SPEC.feeders)
FEEDER_CHECK = str(spec_copy(NAME).parent / "feeders.json")


def usable(wildcards=None):
    """The feeders the pipeline runs: all, or with feeder sets those that pass their checks."""
    if not HAS_SETS:
        return list(FEEDERS)
    with open(checkpoints.check_feeders.get().output[0]) as f:
        return json.load(f)["usable"]


KINDS = ["lowest", "voltage"]

# the validated spec every rule reads; rewritten only when it changes, so reruns stay idle
_text = SPEC.model_dump_json(indent=2) + "\n"
if not Path(SPEC_FILE).exists() or Path(SPEC_FILE).read_text() != _text:
    Path(SPEC_FILE).parent.mkdir(parents=True, exist_ok=True)
    Path(SPEC_FILE).write_text(_text)

# the study's Dask workers and the feeder check's processes: every core of a local run; on a cluster the
# profile's set-threads
try:
    STUDY_THREADS = workflow.cores
except WorkflowError:
    STUDY_THREADS = 1

ruleorder: fleet_map > webmap  # maps/fleet.html is the fleet's (no feeder is named `fleet`: studies/spec.py)

wildcard_constraints:
    feeder="[^/]+",


rule all:
    input:
        str(OUT.report_html),
        str(OUT.report_pdf),
        lambda w: expand(GIS, feeder=usable()),
        lambda w: expand(MAP, feeder=usable(), variant=VARIANTS, kind=KINDS),
        lambda w: expand(WEBMAP, feeder=usable()),
        str(OUT.fleet_map),


checkpoint check_feeders:
    input:
        spec=SPEC_FILE,
        files=[p for f in SPEC.feeders for p in f.files()],
    output:
        FEEDER_CHECK,
    threads: STUDY_THREADS
    log:
        f"logs/{NAME}/check_feeders.log",
    benchmark:
        f"logs/{NAME}/check_feeders.benchmark.tsv"
    shell:
        "hostcap check-feeders {input.spec:q} --out {output:q} --workers {threads} 2>&1 | tee {log:q}"


rule prepare_feeder:
    input:
        # the feeder's own files: an edited feeder, profile or trip file runs again what depends on it
        lambda w: FEEDERS[w.feeder].files(),
    output:
        net=NET,
        gpkg=TOPOLOGY,
    params:
        ref=lambda w: FEEDERS[w.feeder].ref,
        name=lambda w: FEEDERS[w.feeder].name,
        profiles=lambda w: ["--profiles", FEEDERS[w.feeder].profiles] if FEEDERS[w.feeder].profiles else [],
        out=str(Path(NET).parent),
    log:
        "logs/prepare_feeder/{feeder}.log",
    benchmark:
        "logs/prepare_feeder/{feeder}.benchmark.tsv"
    shell:
        "hostcap prepare-feeder {params.ref:q} --name={params.name:q} {params.profiles:q} --out {params.out:q} "
        "> {log:q} 2>&1"


rule study:
    input:
        spec=SPEC_FILE,
        feeders=lambda w: expand(TOPOLOGY, feeder=usable()),
        check=[FEEDER_CHECK] if HAS_SETS else [],  # the checkpoint's verdicts: the study checks nothing again
    output:
        runs=str(OUT.runs),
        elements=str(OUT.elements),
        households=str(OUT.households),
        manifest=str(OUT.manifest),
    params:
        checked=["--checked", FEEDER_CHECK] if HAS_SETS else [],
    threads: STUDY_THREADS
    log:
        f"logs/{NAME}/study.log",
    benchmark:
        f"logs/{NAME}/study.benchmark.tsv"
    shell:
        # the study runs for minutes: its progress bar and answer reach the terminal as well as the log
        "hostcap study {input.spec:q} --out {RESULTS:q} --workers {threads} --no-hosting {params.checked:q} "
        "2>&1 | tee {log:q}"


rule hosting:
    input:
        spec=SPEC_FILE,
        runs=str(OUT.runs),
        elements=str(OUT.elements),
        households=str(OUT.households),
    output:
        hc=report(str(OUT.hosting), category="Hosting capacity"),
        prob=report(str(OUT.probability), category="Hosting capacity"),
        loc=str(OUT.locational),
        headroom=[str(OUT.headroom)] if SPEC.headroom else [],
        value=report(str(OUT.customer_value), category="Households"),
        fleet=str(OUT.fleet),
        fleet_statistics=report(str(OUT.fleet_statistics), category="Fleet"),
        years=[report(str(OUT.first_violation), category="Hosting capacity")] if SPEC.pathway else [],
        needs=[report(str(f), category="What the feeder needs") for f in OUT.reinforcement_outputs]
        if SPEC.reinforcement else [],
    log:
        f"logs/{NAME}/hosting.log",
    benchmark:
        f"logs/{NAME}/hosting.benchmark.tsv"
    shell:
        "hostcap hosting {input.spec:q} --out {RESULTS:q} 2>&1 | tee {log:q}"


rule gis:
    input:
        spec=SPEC_FILE,
        loc=str(OUT.locational),
        headroom=[str(OUT.headroom)] if SPEC.headroom else [],
        households=str(OUT.households),
        topology=TOPOLOGY,
        needs=[str(f) for f in OUT.reinforcement_outputs] if SPEC.reinforcement else [],
    output:
        GIS,
    params:
        ref=lambda w: FEEDERS[w.feeder].name,
    log:
        f"logs/{NAME}/gis/{{feeder}}.log",
    benchmark:
        f"logs/{NAME}/gis/{{feeder}}.benchmark.tsv"
    shell:
        "hostcap gis {input.spec:q} --feeder={params.ref:q} --out {RESULTS:q} > {log:q} 2>&1"


rule maps:
    input:
        spec=SPEC_FILE,
        gpkg=GIS,
        runs=str(OUT.runs),  # the periods in the title, as run
    output:
        # every static map of a feeder from one process: a fleet's maps are one job per feeder
        [report(m, category="Maps") for m in expand(MAP, variant=VARIANTS, kind=KINDS, allow_missing=True)],
    params:
        ref=lambda w: FEEDERS[w.feeder].name,
    log:
        f"logs/{NAME}/maps/{{feeder}}.log",
    benchmark:
        f"logs/{NAME}/maps/{{feeder}}.benchmark.tsv"
    shell:
        "hostcap map {input.spec:q} --feeder={params.ref:q} --out {RESULTS:q} > {log:q} 2>&1"


rule webmap:
    input:
        spec=SPEC_FILE,
        gpkg=GIS,
        runs=str(OUT.runs),  # the periods in the title, as run
    output:
        report(WEBMAP, category="Maps"),
    params:
        ref=lambda w: FEEDERS[w.feeder].name,
    log:
        f"logs/{NAME}/maps/{{feeder}}.html.log",
    benchmark:
        f"logs/{NAME}/maps/{{feeder}}.html.benchmark.tsv"
    shell:
        "hostcap webmap {input.spec:q} --feeder={params.ref:q} --out {RESULTS:q} > {log:q} 2>&1"


rule fleet_map:
    input:
        spec=SPEC_FILE,
        fleet=str(OUT.fleet),
        gis=lambda w: expand(GIS, feeder=usable()),  # the substations of feeders without coordinates in fleet.csv
    output:
        report(str(OUT.fleet_map), category="Maps"),
    log:
        f"logs/{NAME}/maps/fleet.html.log",
    benchmark:
        f"logs/{NAME}/maps/fleet.html.benchmark.tsv"
    shell:
        "hostcap fleet-map {input.spec:q} --out {RESULTS:q} > {log:q} 2>&1"


rule report:
    input:
        spec=SPEC_FILE,
        hc=str(OUT.hosting),
        prob=str(OUT.probability),
        value=str(OUT.customer_value),
        needs=[str(f) for f in OUT.reinforcement_outputs] if SPEC.reinforcement else [],
        manifest=str(OUT.manifest),
        gis=lambda w: expand(GIS, feeder=usable()),
        webmaps=lambda w: expand(WEBMAP, feeder=usable()),  # the report links to them
    output:
        html=report(str(OUT.report_html), category="Report"),
        pdf=report(str(OUT.report_pdf), category="Report"),
    log:
        f"logs/{NAME}/report.log",
    benchmark:
        f"logs/{NAME}/report.benchmark.tsv"
    shell:
        "hostcap report {input.spec:q} --out {RESULTS:q} > {log:q} 2>&1"


onsuccess:
    if OUT.report_html.is_file():  # where the answer is, as the last line a user reads
        print(f"report: {OUT.report_html} (PDF: {OUT.report_pdf}); maps in {OUT.root / 'maps'}")
