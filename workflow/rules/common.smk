# Input functions, wildcard constraints and the final targets. Run configurations are checked
# here, at DAG construction, so an unknown sampler or option fails before any job starts.

import json

from vaeinfer.config import ConfigError
from vaeinfer.experiments import toy_pitfalls as toy_experiment
from vaeinfer.random import derive_seed

TOY = config["experiments"]["toy_pitfalls"]

try:
    TOY_RUNS = {name: toy_experiment.parse_run(name, raw) for name, raw in TOY["samplers"].items()}
    TOY_ROWS = [row for name, run in TOY_RUNS.items() for row in toy_experiment.row_names(name, run)]
    toy_experiment.check_figure_rows(TOY["figures"], TOY_ROWS)
except (ConfigError, ValueError) as err:
    raise WorkflowError(f"invalid config: {err}") from None


def canonical(obj):
    """A dict param as canonical JSON: Snakemake compares params by their text, so key order
    must not count as a change (scripts read it back with json.loads)."""
    return json.dumps(obj, sort_keys=True)


wildcard_constraints:
    experiment="toy_pitfalls",
    dataset="toy_grid",
    run="|".join(TOY_RUNS),
    seed=r"\d+",


def toy_row_names():
    """The grid's sampler coordinate: run names, plus <run>_iterates for final-resampled LAIR."""
    return TOY_ROWS


def toy_run_seed(wildcards):
    """Each run's generator seed: a hash of the experiment, run name and configured seed."""
    return derive_seed(wildcards.experiment, wildcards.run, int(wildcards.seed))


def toy_metric_inputs():
    """(seed, metrics file) for every configured run and seed, in config order."""
    return [
        (seed, f"results/runs/toy_pitfalls/{TOY['dataset']}/{run}/seed{seed}/metrics.nc")
        for seed in TOY["seeds"]
        for run in TOY_RUNS
    ]


def all_targets():
    targets = []
    if TOY["enabled"]:
        targets += [
            "results/grids/toy_pitfalls.nc",
            "results/figures/toy_pitfalls.png",
            "results/figures/toy_pitfalls.pdf",
            "results/figures/toy_ablations.png",
            "results/figures/toy_ablations.pdf",
            "results/tables/toy_pitfalls.md",
            "results/tables/toy_pitfalls.csv",
        ]
    return targets
