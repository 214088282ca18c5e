"""The workflow's plan of the primary paper's real-data experiments, parsed from the config.

Each experiment section of ``config.yaml`` (``mnist_gmm``, ``omniglot``, ``uci``) becomes a frozen
dataclass that rejects unknown keys, and then a :class:`Plan`: which (dataset, missingness) tasks
it runs, which sampler runs and grid rows, which seeds, and how the runs are stored. The Snakefile
builds its targets from plans, so a bad config fails before any job starts, with a message that
names the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vaeinfer.config import ConfigError, from_dict
from vaeinfer.experiments import mnist_gmm, omniglot, uci
from vaeinfer.experiments.common import RunConfig, fill_clip_ranges, parse_run, row_names

__all__ = ["EXPERIMENTS", "MnistGmmExperiment", "OmniglotExperiment", "Plan", "UCIExperiment", "make_plans"]


@dataclass(frozen=True, kw_only=True)
class MnistGmmExperiment:
    """``experiments.mnist_gmm``: see config/config.yaml for every key's meaning."""

    enabled: bool = True
    dataset: str
    points: tuple[mnist_gmm.PointConfig, ...]
    seeds: tuple[int, ...]
    batch_size: int | None = None
    classifier: dict[str, Any]
    samplers: dict[str, Any]
    metrics: mnist_gmm.MetricsConfig = field(default_factory=mnist_gmm.MetricsConfig)


@dataclass(frozen=True, kw_only=True)
class OmniglotExperiment:
    """``experiments.omniglot``: see config/config.yaml for every key's meaning."""

    enabled: bool = True
    dataset: str
    missingness: tuple[str, ...] = ("quadrants1", "quadrants2", "quadrants3")
    mask_seed: int = 20220118
    max_points: int | None = None
    seeds: tuple[int, ...]
    batch_size: int | None = None
    samplers: dict[str, Any]
    metrics: omniglot.MetricsConfig = field(default_factory=omniglot.MetricsConfig)

    def __post_init__(self) -> None:
        unknown = [lv for lv in self.missingness if lv not in omniglot.LEVELS]
        if unknown:
            raise ConfigError(
                f"experiments.omniglot.missingness: unknown levels {unknown}; use {list(omniglot.LEVELS)}"
            )


@dataclass(frozen=True, kw_only=True)
class UCIExperiment:
    """``experiments.uci``: see config/config.yaml for every key's meaning."""

    enabled: bool = True
    datasets: tuple[str, ...]
    missing_fraction: float = 0.5
    mask_seed: int = 20220118
    max_points: int | None = 50000
    seeds: tuple[int, ...]
    batch_size: int | None = None
    samplers: dict[str, Any]
    metrics: uci.MetricsConfig = field(default_factory=uci.MetricsConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.missing_fraction < 1.0:
            raise ConfigError(f"experiments.uci.missing_fraction must be in (0, 1), got {self.missing_fraction}")

    @property
    def missingness(self) -> str:
        return f"mcar{round(100 * self.missing_fraction)}"


EXPERIMENTS: dict[str, type] = {"mnist_gmm": MnistGmmExperiment, "omniglot": OmniglotExperiment, "uci": UCIExperiment}


@dataclass(frozen=True)
class Plan:
    """What one experiment runs.

    Attributes:
        name: the experiment (``mnist_gmm``, ``omniglot`` or ``uci``).
        config: its parsed section.
        tasks: (dataset, missingness) pairs; every run is made once per task and seed.
        runs: run name -> :class:`RunConfig`.
        rows: the grid's ``sampler`` coordinate, in config order.
        seeds: the configured seeds.
        store: ``"all"`` iterates (MNIST-GMM pools them) or the ``"last"`` one (Omniglot, UCI).
    """

    name: str
    config: Any
    tasks: list[tuple[str, str]]
    runs: dict[str, RunConfig]
    rows: list[str]
    seeds: list[int]
    store: str

    def run_paths(self, kind: str) -> list[tuple[str, str, int, str]]:
        """(dataset, missingness, seed, path of the run's ``kind`` file) for every run."""
        return [
            (d, m, seed, f"results/runs/{self.name}/{d}/{m}/{run}/seed{seed}/{kind}.nc")
            for d, m in self.tasks
            for seed in self.seeds
            for run in self.runs
        ]


def _validation_view(raw: dict[str, Any]) -> dict[str, Any]:
    """``clip: dataset`` takes its range from the training split at run time: fill a dummy range
    so the options can be validated before the data exist."""
    return fill_clip_ranges(raw, [0.0], [0.0])


def _parse_runs(name: str, samplers: dict[str, Any]) -> dict[str, RunConfig]:
    if not samplers:
        raise ConfigError(f"experiments.{name}.samplers must list at least one run")
    runs = {}
    for run_name, raw in samplers.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"experiments.{name}.samplers.{run_name} must be a mapping")
        parse_run(run_name, _validation_view(raw), experiment=name)
        runs[run_name] = from_dict(RunConfig, raw, where=f"experiments.{name}.samplers.{run_name}")
    return runs


def make_plans(config: dict[str, Any]) -> dict[str, Plan]:
    """Plans of the enabled real-data experiments in the workflow ``config``."""
    plans = {}
    experiments = config.get("experiments", {})
    for name, cls in EXPERIMENTS.items():
        if name not in experiments:
            continue
        parsed = from_dict(cls, experiments[name], where=f"experiments.{name}")
        if not parsed.enabled:
            continue
        if not parsed.seeds:
            raise ConfigError(f"experiments.{name}.seeds must list at least one seed")
        runs = _parse_runs(name, parsed.samplers)
        if name == "mnist_gmm":
            tasks, store = [(parsed.dataset, "handmade")], "all"
        elif name == "omniglot":
            tasks, store = [(parsed.dataset, level) for level in parsed.missingness], "last"
        else:
            tasks, store = [(d, parsed.missingness) for d in parsed.datasets], "last"
        datasets = {d for d, _ in tasks}
        missing = sorted(d for d in datasets if d not in config.get("datasets", {}))
        if missing:
            raise ConfigError(f"experiments.{name} uses datasets {missing}, which have no entry under datasets:")
        untrained = sorted(d for d in datasets if d not in config.get("models", {}))
        if untrained:
            raise ConfigError(f"experiments.{name} uses datasets {untrained}, which have no entry under models:")
        rows = [row for run_name, run in runs.items() for row in row_names(run_name, run)]
        plans[name] = Plan(name, parsed, tasks, runs, rows, list(parsed.seeds), store)
    return plans
