# Input functions, wildcard constraints and the final targets. Run configurations are checked
# here, at DAG construction, so an unknown sampler or option fails before any job starts.

import json

from vaeinfer.config import ConfigError
from vaeinfer.data import DATASETS
from vaeinfer.experiments import toy_pitfalls as toy_experiment
from vaeinfer.experiments.plan import make_plans
from vaeinfer.random import derive_seed

TOY = config["experiments"]["toy_pitfalls"]

try:
    TOY_RUNS = {name: toy_experiment.parse_run(name, raw) for name, raw in TOY["samplers"].items()}
    TOY_ROWS = [row for name, run in TOY_RUNS.items() for row in toy_experiment.row_names(name, run)]
    toy_experiment.check_figure_rows(TOY["figures"], TOY_ROWS)
    # The real-data experiments of the primary paper (MNIST-GMM, Omniglot, UCI, or their
    # offline stand-ins): name -> Plan (tasks, runs, grid rows, seeds).
    PLANS = make_plans(config)
except (ConfigError, ValueError) as err:
    raise WorkflowError(f"invalid config: {err}") from None

#: datasets prepared by prepare_dataset (every configured dataset but the toy's own generator)
REAL_DATA = [name for name in config["datasets"] if name != "toy_grid"]
_unknown = [name for name in REAL_DATA if name not in DATASETS]
if _unknown:
    raise WorkflowError(
        f"invalid config: datasets {_unknown} are not known; choose among {sorted(DATASETS)} (or toy_grid)"
    )


def canonical(obj):
    """A dict param as canonical JSON: Snakemake compares params by their text, so key order
    must not count as a change (scripts read it back with json.loads)."""
    return json.dumps(obj, sort_keys=True)


wildcard_constraints:
    experiment="|".join(["toy_pitfalls", *PLANS]),
    dataset="|".join(["toy_grid", *REAL_DATA]),
    run="|".join(sorted({*TOY_RUNS, *(run for plan in PLANS.values() for run in plan.runs)})),
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


def plan_run_seed(wildcards):
    """A real-data run's seed: a hash of the experiment, task, run name and configured seed."""
    w = wildcards
    return derive_seed(w.experiment, w.dataset, w.missingness, w.run, int(w.seed))


def plan_run_config(wildcards):
    """A run's own config, as canonical JSON (editing one run reruns only that run)."""
    return canonical(PLANS[wildcards.experiment].config.samplers[wildcards.run])


#: (raw sub-directory, file name) -> RemoteFile, for the configured real datasets (the UCI sets
#: share one MAF archive, downloaded once)
REMOTES = {
    (DATASETS[name].raw_subdir, remote.filename): remote for name in REAL_DATA for remote in DATASETS[name].remote_files
}


def raw_inputs(wildcards):
    """The raw files a dataset is prepared from (none for stand-ins)."""
    spec = DATASETS[wildcards.dataset]
    return [f"data/{spec.raw_subdir}/{remote.filename}" for remote in spec.remote_files]


def classifier_input(wildcards):
    """MNIST-GMM's metrics need the FID classifier; the others do not."""
    if wildcards.experiment == "mnist_gmm":
        return {"classifier": f"results/checkpoints/{wildcards.dataset}/classifier.pt"}
    return {}


def training_histories(wildcards=None):
    """The training curves of every network the enabled experiments train."""
    paths = []
    if TOY["enabled"]:
        paths.append(f"results/checkpoints/{TOY['dataset']}/training_history.csv")
    for plan in PLANS.values():
        paths += [f"results/checkpoints/{d}/training_history.csv" for d, _ in plan.tasks]
    if "mnist_gmm" in PLANS:
        paths.append(f"results/checkpoints/{PLANS['mnist_gmm'].config.dataset}/classifier_history.csv")
    return list(dict.fromkeys(paths))


def claim_grids():
    """The result grids of this run's experiments (the claim checker's inputs)."""
    grids = ["results/grids/toy_pitfalls.nc"] if TOY["enabled"] else []
    return grids + [f"results/grids/{name}.nc" for name in PLANS]


def claims_note():
    """What the claims table must say about this run's data and budgets."""
    stand_ins = sorted({d for plan in PLANS.values() for d, _ in plan.tasks if DATASETS[d].kind == "stand-in"})
    if not stand_ins:
        return ""
    return (
        f"This run uses offline stand-ins ({', '.join(stand_ins)}) for the paper's real datasets and reduced "
        "budgets (config/config.yaml), so its values are not measured in the paper's setting."
    )


def experiment_targets(name):
    """The grid, figures and tables of a real-data experiment."""
    return [
        f"results/grids/{name}.nc",
        f"results/figures/{name}.png",
        f"results/figures/{name}.pdf",
        f"results/tables/{name}.md",
        f"results/tables/{name}.csv",
    ]


def all_targets():
    targets = [
        "results/figures/training_curves.png",
        "results/figures/training_curves.pdf",
        "results/tables/claims.md",
        "results/tables/claims.csv",
        "results/provenance/software.csv",
        "results/provenance/config.yaml",
    ]
    for name in PLANS:
        targets += experiment_targets(name)
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
