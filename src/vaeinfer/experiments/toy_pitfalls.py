"""The toy "pitfalls" experiment of Simkus & Gutmann (2023): sections 2.1, 3.1 and 4.4 of the spec.

Steps (one per workflow rule): generate the grid mixture data, pre-train the component-supervised
VAE, build the 14 hand-made test points, run each sampler, compute the VAE's exact conditional by
quadrature, score each run's KDE against it (KL both ways, JSD), and assemble the result grid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.config import ConfigError, to_dict
from vaeinfer.data.toy import grid_mixture, sample_mixture
from vaeinfer.experiments.common import RunConfig, parse_run, points_tensors, row_names, run_on_points
from vaeinfer.metrics import conditional_density_by_quadrature, grid_divergences, kde_density
from vaeinfer.missingness.points import TOY_GRID_VALUES, toy_grid_test_points
from vaeinfer.models.networks import init_parameters
from vaeinfer.models.toy import ToyVAE, ToyVAEConfig, component_supervised_loss
from vaeinfer.results.io import netcdf_safe_attrs
from vaeinfer.training import FitResult, TrainingConfig, fit

__all__ = [
    "MetricsConfig",
    "ModelConfig",
    "RunConfig",
    "ToyDataConfig",
    "assemble_grid",
    "check_figure_rows",
    "make_dataset",
    "make_points",
    "parse_run",
    "reference_conditional",
    "run_metrics",
    "row_names",
    "run_sampler",
    "train_vae",
]

PITFALL_POINTS = {"I": 3, "II": 10, "III": 5}

#: epochs between the toy VAE's resume-file writes (a fixed setting, not a config key: the
#: checkpoint records the model config, and resumability must not change its bytes)
RESUME_EVERY_EPOCHS = 5


@dataclass(frozen=True, kw_only=True)
class ToyDataConfig:
    """Attributes: seed; num_train / num_val / num_test split sizes."""

    seed: int = 20220118
    num_train: int = 27000
    num_val: int = 3000
    num_test: int = 30000


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Attributes: architecture (ToyVAEConfig), training (TrainingConfig), num_latent_samples S, seed."""

    architecture: ToyVAEConfig = field(default_factory=ToyVAEConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    num_latent_samples: int = 50
    seed: int = 20220118


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Attributes:
    x_min, x_max, x_points: the x_m grid (paper: [-3, 3], 5000 points).
    z_points: latent grid on [0, 1] for the quadrature (paper: 500).
    kde_bandwidth: scipy ``bw_method`` factor (paper: 0.05).
    density_floor: floor inside the KL logarithms.
    image_x_points, image_z_points: the coarse grid of the stored p(x_m, z | x_o) image.
    """

    x_min: float = -3.0
    x_max: float = 3.0
    x_points: int = 5000
    z_points: int = 2001
    kde_bandwidth: float = 0.05
    density_floor: float = 1e-12
    image_x_points: int = 300
    image_z_points: int = 200


def make_dataset(config: ToyDataConfig) -> xr.Dataset:
    """Train/val/test draws of the standardised grid mixture, labels, and the true parameters."""
    mixture = grid_mixture()
    generator = vrandom.make_generator(config.seed)
    data: dict[str, Any] = {}
    for split, n in (("train", config.num_train), ("val", config.num_val), ("test", config.num_test)):
        x, c = sample_mixture(mixture, n, generator=generator)
        data[f"x_{split}"] = ((f"{split}_index", "feature"), x.numpy())
        data[f"component_{split}"] = ((f"{split}_index",), c.numpy())
    data["mixture_weights"] = (("component",), mixture.weights)
    data["mixture_means"] = (("component", "feature"), mixture.means)
    data["mixture_variances"] = (("component", "feature"), mixture.variances)
    ds = xr.Dataset(data)
    ds.attrs.update(netcdf_safe_attrs({"description": "standardised 13-component 2-D grid mixture",
                                       "generator_config": to_dict(config)}))
    return ds


def train_vae(
    dataset: xr.Dataset,
    config: ModelConfig,
    *,
    device: torch.device,
    progress: bool = True,
    resume_path: str | os.PathLike[str] | None = None,
) -> tuple[ToyVAE, FitResult]:
    """Pre-train the component-supervised toy VAE; returns it with the best-val parameters.

    With ``resume_path``, training is resumable (:func:`~vaeinfer.training.fit`): a resume file is
    written every :data:`RESUME_EVERY_EPOCHS` epochs and an interrupted run continues from it, with
    the same result as an uninterrupted one.
    """
    generator = vrandom.make_generator(config.seed, device)
    model = ToyVAE(config.architecture)
    # Initial weights from a CPU generator, so they do not depend on the device.
    init_parameters(model, generator=vrandom.make_generator(vrandom.derive_seed(config.seed, "init")))
    model.to(device)
    num_components = int(dataset.sizes["component"])

    def tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(dataset[f"x_{split}"].values, dtype=torch.float32, device=device)
        c = torch.as_tensor(dataset[f"component_{split}"].values, dtype=torch.long, device=device)
        return x, c

    def loss(m: torch.nn.Module, batch: tuple[torch.Tensor, ...], g: torch.Generator) -> torch.Tensor:
        return component_supervised_loss(
            m, batch[0], batch[1], num_components=num_components,
            num_latent_samples=config.num_latent_samples, generator=g,
        )

    result = fit(model, tensors("train"), tensors("val"), loss, config.training,
                 generator=generator, progress=progress, resume_path=resume_path,
                 checkpoint_every_epochs=RESUME_EVERY_EPOCHS,
                 resume_key={"data": dataset.attrs.get("generator_config", "")})
    model.load_state_dict(result.best_state)
    return model.eval(), result


def make_points(values: tuple[float, ...] = TOY_GRID_VALUES) -> xr.Dataset:
    """The hand-made test points (NaN = missing) and their observed mask."""
    x = toy_grid_test_points(values)
    ds = xr.Dataset(
        {"x": (("point", "feature"), x.numpy()),
         "observed_mask": (("point", "feature"), (~torch.isnan(x)).numpy().astype(np.int8))},
        coords={"point": np.arange(x.shape[0])},
    )
    ds.attrs["pitfall_points_json"] = '{"I": 3, "II": 10, "III": 5}'
    return ds


def run_sampler(
    model: ToyVAE, points: xr.Dataset, run: RunConfig, *, seed: int, device: torch.device, progress: bool = True
) -> xr.Dataset:
    """One sampler run on all test points, every iterate stored.

    Point p draws from its own counter-based stream keyed by (``seed``, p), so its result does not
    depend on which other points are in the batch.
    """
    return run_on_points(model, points, run, seed=seed, device=device, store="all", progress=progress)


def _x_grid(cfg: MetricsConfig, n: int | None = None) -> np.ndarray:
    return np.linspace(cfg.x_min, cfg.x_max, n or cfg.x_points)


def reference_conditional(model: ToyVAE, points: xr.Dataset, cfg: MetricsConfig) -> xr.Dataset:
    """The VAE's own p(x_m | x_o) on the x grid, and a coarse image of p(x_m, z | x_o)."""
    x, mask = points_tensors(points, torch.device("cpu"))
    model = model.cpu()
    fine = conditional_density_by_quadrature(model, x, mask, _x_grid(cfg), np.linspace(0, 1, cfg.z_points))
    z_img = np.linspace(0, 1, cfg.image_z_points)
    coarse = conditional_density_by_quadrature(model, x, mask, _x_grid(cfg, cfg.image_x_points), z_img)
    return xr.Dataset(
        {"pdf": (("point", "x"), fine.pdf),
         "mean_latent": (("point", "x"), fine.mean_latent),
         "joint": (("point", "x_image", "z_image"), coarse.joint)},
        coords={"point": points["point"].values, "x": _x_grid(cfg),
                "x_image": _x_grid(cfg, cfg.image_x_points), "z_image": z_img},
    )


def _missing_feature(points: xr.Dataset) -> np.ndarray:
    return (points["observed_mask"].values == 0).argmax(1)


def run_metrics(
    samples: xr.Dataset, reference: xr.Dataset, run_name: str, cfg: MetricsConfig
) -> xr.Dataset:
    """KL(p||q), KL(q||p), JSD and the KDE per point, for one run.

    q is a KDE of *all* stored imputations of the point, pooled over chains and iterations (no
    burn-in removed, as in the paper; warm-up draws included). A run with final resampling is
    scored on its final-resampled draws; a LAIR run with final resampling yields a second row,
    ``<run>_iterates``, from the particle iterates (see :func:`row_names`).
    """
    grid = reference["x"].values
    feature = (samples["observed_mask"].values == 0).argmax(1)
    rows = {run_name: samples["imputations"]}
    if "resampled_imputations" in samples:
        rows = {run_name: samples["resampled_imputations"]}
        if samples.attrs.get("sampler") == "lair":
            rows[f"{run_name}_iterates"] = samples["imputations"]
    out = []
    for name, arr in rows.items():
        dens = np.stack([
            kde_density(arr.isel(point=i, feature=int(f)).values, grid, bandwidth=cfg.kde_bandwidth)
            for i, f in enumerate(feature)
        ])
        div = grid_divergences(reference["pdf"].values, dens, grid, density_floor=cfg.density_floor)
        ds = xr.Dataset(
            {k: (("point",), v) for k, v in div.items()} | {"density": (("point", "x"), dens)},
            coords={"point": samples["point"].values, "x": grid},
        ).expand_dims(sampler=[name])
        num = int(np.prod([arr.sizes[d] for d in arr.dims if d not in ("point", "feature")]))
        ds["num_samples"] = (("sampler",), [num])
        out.append(ds)
    result = xr.concat(out, dim="sampler")
    for name, (long_name, units) in _METRIC_ATTRS.items():
        result[name].attrs.update(long_name=long_name, units=units)
    return result


_METRIC_ATTRS = {
    "jsd": ("Jensen-Shannon divergence between the VAE conditional and the sample KDE", "nats"),
    "kl_pq": ("KL(p || q), p = VAE conditional by quadrature, q = sample KDE", "nats"),
    "kl_qp": ("KL(q || p), p = VAE conditional by quadrature, q = sample KDE", "nats"),
    "density": ("KDE of the sampler's imputations of the missing feature", "1/feature unit"),
}


def assemble_grid(
    run_metrics_by_seed: dict[int, list[xr.Dataset]], reference: xr.Dataset, sampler_order: list[str]
) -> xr.Dataset:
    """The experiment grid: metrics on (sampler, point[, seed]) plus the reference pdf."""
    per_seed = []
    for seed, runs in sorted(run_metrics_by_seed.items()):
        ds = xr.concat(runs, dim="sampler")
        order = [s for s in sampler_order if s in ds["sampler"].values]
        per_seed.append(ds.sel(sampler=order).expand_dims(seed=[seed]))
    grid = xr.concat(per_seed, dim="seed")
    if grid.sizes["seed"] == 1:
        grid = grid.squeeze("seed", drop=False)
    grid["reference_pdf"] = reference["pdf"]
    grid["reference_pdf"].attrs.update(long_name="VAE conditional p(x_m | x_o) by quadrature", units="1/feature unit")
    grid["mean_latent"] = reference["mean_latent"]
    grid = grid.assign_coords(pitfall=("point", [next((k for k, v in PITFALL_POINTS.items() if v == p), "")
                                                 for p in grid["point"].values]))
    return grid


def check_figure_rows(figures: dict[str, Any], rows: list[str]) -> None:
    """Every run named in the ``figures`` config must be a grid row."""
    named = list(figures.get("pitfalls", []))
    for group in figures.get("ablations", {}).values():
        named += list(group)
    unknown = [n for n in named if n not in rows]
    if unknown:
        raise ConfigError(
            f"experiments.toy_pitfalls.figures names {unknown}, which are not runs of the experiment; "
            f"choose among {rows}"
        )
