"""The MNIST-GMM experiment of Simkus & Gutmann (2023): seed000 §2.2, §3.2 and §4.3.

The data are drawn from a known Gaussian mixture (one full-covariance Gaussian per digit class,
fitted in logit space), so the exact class posterior p(c | x_o) of a test point whose few observed
pixels are given is known in closed form. A sampler's imputations give the Rao-Blackwellised
estimate pi_hat_c = (1/N) sum_n p(c | x_o, x_m^(n)); the metric is the divergence (KL both ways,
JSD) between the two categoricals. Per-point FIDs compare the imputations with exact samples of
the mixture's conditional in two feature spaces: a classifier's logits and the VAE encoder's
output.

Steps (one per workflow rule): prepare the mixture data (MNIST or the bundled-digits stand-in),
pre-train the VAE and the classifier, build the hand-made test points, run each sampler (all
iterates stored), score each run, assemble the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.config import ConfigError, from_dict
from vaeinfer.experiments.common import data_attrs, image_shape, slot_rows, stack_runs
from vaeinfer.metrics.fid import frechet_distance
from vaeinfer.metrics.gmm import (
    categorical_divergences,
    class_posterior_observed,
    rao_blackwell_class_posterior,
    sample_conditional,
)
from vaeinfer.missingness.points import block_masks

__all__ = ["MetricsConfig", "PointConfig", "assemble_grid", "make_points", "run_metrics"]


@dataclass(frozen=True, kw_only=True)
class PointConfig:
    """One hand-made test point.

    Attributes:
        index: its row in the test split.
        observed_blocks: observed rectangles ``(row, col, height, width)`` in image coordinates.
    """

    index: int
    observed_blocks: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Attributes:
    fid_max_samples: at most this many imputations per point (evenly thinned) and as many exact
        conditional samples enter each per-point FID (paper: all T*K of the run).
    reference_seed: seed of the exact conditional samples (the same for every run, so FIDs of
        different samplers share their reference).
    """

    fid_max_samples: int = 10000
    reference_seed: int = 20220118

    def __post_init__(self) -> None:
        if self.fid_max_samples < 2:
            raise ValueError("fid_max_samples must be at least 2")


def parse_points(raw: list[dict[str, Any]], where: str = "experiments.mnist_gmm.points") -> list[PointConfig]:
    """Validate the configured points."""
    if not raw:
        raise ConfigError(f"{where} must list at least one point")
    return [from_dict(PointConfig, p, where=f"{where}[{i}]") for i, p in enumerate(raw)]


def make_points(dataset: xr.Dataset, points: list[PointConfig]) -> xr.Dataset:
    """The test points: true values ``x_true``, ``x`` with NaN where missing, and the mask."""
    shape = image_shape(dataset)
    if shape is None:
        raise ValueError(f"dataset {dataset.attrs.get('name')!r} is not an image dataset (no image_shape_json)")
    num_test = dataset.sizes["test_index"]
    bad = [p.index for p in points if not 0 <= p.index < num_test]
    if bad:
        raise ValueError(f"test indices {bad} are outside the test split (0 .. {num_test - 1})")
    x_true = dataset["x_test"].values[[p.index for p in points]].astype(np.float32)
    mask = block_masks(shape, [p.observed_blocks for p in points]).numpy()
    x = np.where(mask, x_true, np.nan).astype(np.float32)
    labels = dataset["label_test"].values[[p.index for p in points]]
    return xr.Dataset(
        {
            "x": (("point", "feature"), x),
            "x_true": (("point", "feature"), x_true),
            "observed_mask": (("point", "feature"), mask.astype(np.int8)),
            "label": (("point",), labels.astype(np.int64)),
            "test_index": (("point",), np.array([p.index for p in points], dtype=np.int64)),
        },
        coords={"point": np.arange(len(points))},
        attrs=data_attrs(dataset),
    )


def _mixture(dataset: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (dataset["gmm_weights"].values, dataset["gmm_means"].values, dataset["gmm_covariances"].values)


def true_class_posterior(dataset: xr.Dataset, points: xr.Dataset) -> np.ndarray:
    """(B, C) exact p(c | x_o) of every test point."""
    x = np.nan_to_num(points["x"].values.astype(np.float64))
    return np.asarray(class_posterior_observed(x, points["observed_mask"].values.astype(bool), *_mixture(dataset)))


def _thin(imputations: np.ndarray, max_samples: int) -> np.ndarray:
    """At most ``max_samples`` of the (N, B, D) imputations, evenly spaced along N."""
    n = imputations.shape[0]
    if n <= max_samples:
        return imputations
    return imputations[np.linspace(0, n - 1, max_samples).round().astype(int)]


def run_metrics(
    samples: xr.Dataset,
    points: xr.Dataset,
    dataset: xr.Dataset,
    run_name: str,
    *,
    classifier: torch.nn.Module,
    vae: Any,
    config: MetricsConfig,
) -> xr.Dataset:
    """Class-posterior divergences and per-point FIDs of one run (every grid row it yields).

    Imputations: every stored draw of every chain (warm-up and initial draw included, as the
    paper's ``fit_iterations = [1e6]``), or LAIR's final-resampled draws for the main row with the
    particle iterates as ``<run>_iterates``.
    """
    weights, means, covariances = _mixture(dataset)
    truth = true_class_posterior(dataset, points)
    x_obs = np.nan_to_num(points["x"].values.astype(np.float64))
    mask = points["observed_mask"].values.astype(bool)
    low, high = dataset["feature_min"].values, dataset["feature_max"].values
    num_points = points.sizes["point"]
    rows = []
    for row, imputations in slot_rows(samples, run_name, pool_all_draws=True).items():
        imputations = imputations.astype(np.float64)  # (N, B, D)
        estimate = np.asarray(rao_blackwell_class_posterior(imputations, weights, means, covariances))
        div = categorical_divergences(truth, estimate)
        thinned = np.clip(_thin(imputations, config.fid_max_samples), low, high)
        generator = vrandom.make_generator(config.reference_seed)
        reference = sample_conditional(x_obs, mask, weights, means, covariances, thinned.shape[0], generator=generator)
        reference = np.asarray(reference, dtype=np.float64)
        fid_cls, fid_enc = np.empty(num_points), np.empty(num_points)
        for b in range(num_points):  # per-point FID: a handful of points, each a (N, D) feature matrix
            fid_cls[b] = frechet_distance(_features(classifier, thinned[:, b]), _features(classifier, reference[:, b]))
            fid_enc[b] = frechet_distance(
                _encoder_features(vae, thinned[:, b]), _encoder_features(vae, reference[:, b])
            )
        ds = xr.Dataset(
            {
                "kl_pq": (("point",), np.asarray(div["kl_pq"])),
                "kl_qp": (("point",), np.asarray(div["kl_qp"])),
                "jsd": (("point",), np.asarray(div["jsd"])),
                "fid_classifier": (("point",), fid_cls),
                "fid_encoder": (("point",), fid_enc),
                "class_posterior": (("point", "component"), estimate),
                "num_samples": ((), imputations.shape[0]),
            },
            coords={"point": points["point"].values, "component": np.arange(truth.shape[1])},
        ).expand_dims(sampler=[row])
        rows.append(ds)
    out = xr.concat(rows, dim="sampler")
    for name, (long_name, units) in _METRIC_ATTRS.items():
        out[name].attrs.update(long_name=long_name, units=units)
    return out


def _device_of(module: Any) -> torch.device:
    try:
        return next(module.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@torch.no_grad()
def _features(classifier: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float32, device=_device_of(classifier))
    return classifier(t).double().cpu().numpy()


@torch.no_grad()
def _encoder_features(vae: Any, x: np.ndarray) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float32, device=_device_of(vae))
    return vae.encoder_features(t).double().cpu().numpy()


_METRIC_ATTRS = {
    "jsd": ("Jensen-Shannon divergence between exact p(c | x_o) and its Rao-Blackwellised estimate", "nats"),
    "kl_pq": ("KL(p || q), p = exact p(c | x_o), q = Rao-Blackwellised estimate from the imputations", "nats"),
    "kl_qp": ("KL(q || p), p = exact p(c | x_o), q = Rao-Blackwellised estimate from the imputations", "nats"),
    "fid_classifier": ("per-point FID to exact conditional samples, classifier-logit features", "1"),
    "fid_encoder": ("per-point FID to exact conditional samples, VAE-encoder features", "1"),
    "class_posterior": ("Rao-Blackwellised estimate of p(c | x_o)", "1"),
}


def assemble_grid(
    metrics_by_seed: dict[int, list[xr.Dataset]], points: xr.Dataset, dataset: xr.Dataset, sampler_order: list[str]
) -> xr.Dataset:
    """The experiment grid on (sampler, seed, point[, component]) plus the exact class posterior."""
    per_seed = []
    for seed, runs in sorted(metrics_by_seed.items()):
        per_seed.append(stack_runs(runs, sampler_order).expand_dims(seed=[seed]))
    grid = xr.concat(per_seed, dim="seed").transpose("sampler", "seed", ...)
    grid["true_class_posterior"] = (("point", "component"), true_class_posterior(dataset, points))
    grid["true_class_posterior"].attrs.update(long_name="exact p(c | x_o) of the data-generating mixture", units="1")
    grid["label"] = points["label"]
    grid["num_observed"] = (("point",), points["observed_mask"].values.sum(1).astype(np.int64))
    grid.attrs.update(data_attrs(dataset))
    return grid
