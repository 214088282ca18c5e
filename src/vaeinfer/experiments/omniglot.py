"""The Omniglot experiment of Simkus & Gutmann (2023): seed000 §2.3, §3.3 and §4.2.

Binarised images with 1, 2 or 3 of their four quadrants missing. Each sampler imputes the whole
test set; each imputation slot (the last iterate of chain s, or LAIR's final draw s) completes the
test set once, and is scored by:

* the FID between the completed and the true test set in the VAE encoder's output space;
* F1 (and inverse F1) of the missing pixels and SSIM of the images, pooled over slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.experiments.common import completed_sets, data_attrs, image_shape, masked_test_points, stack_runs
from vaeinfer.metrics.fid import frechet_distance
from vaeinfer.metrics.images import f1_missing, ssim
from vaeinfer.missingness import quadrant_masks

__all__ = ["LEVELS", "MetricsConfig", "assemble_grid", "make_points", "run_metrics"]

#: missingness level name -> number of missing quadrants
LEVELS = {"quadrants1": 1, "quadrants2": 2, "quadrants3": 3}


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """Attributes: ssim_kernel_size (odd, at most the image side; paper: 11) and ssim_sigma (the
    Gaussian window's std; None: 1.5 * kernel_size / 11, the paper's 1.5 for an 11-pixel window)."""

    ssim_kernel_size: int = 11
    ssim_sigma: float | None = None


def make_points(dataset: xr.Dataset, level: str, *, mask_seed: int, max_points: int | None) -> xr.Dataset:
    """The test set with ``LEVELS[level]`` random quadrants missing per image (one generator
    seeded by ``mask_seed`` per level, as the paper's per-level configs)."""
    if level not in LEVELS:
        raise ValueError(f"unknown missingness level {level!r}; choose among {list(LEVELS)}")
    shape = image_shape(dataset)
    if shape is None:
        raise ValueError(f"dataset {dataset.attrs.get('name')!r} is not an image dataset (no image_shape_json)")
    mask = quadrant_masks(dataset.sizes["test_index"], *shape, LEVELS[level],
                          generator=vrandom.make_generator(mask_seed))
    points = masked_test_points(dataset, mask, max_points=max_points)
    points.attrs["missingness"] = level
    return points


@torch.no_grad()
def _encoder_features(vae: Any, x: np.ndarray, batch: int = 4096) -> np.ndarray:
    device = next(vae.parameters()).device
    parts = [vae.encoder_features(torch.as_tensor(x[i : i + batch], dtype=torch.float32, device=device))
             for i in range(0, x.shape[0], batch)]
    return torch.cat(parts).double().cpu().numpy()


def run_metrics(
    samples: xr.Dataset, points: xr.Dataset, run_name: str, *, vae: Any, config: MetricsConfig
) -> xr.Dataset:
    """FID per imputation slot, and F1 / inverse F1 / SSIM pooled over slots, for every grid row."""
    truth = points["x_true"].values
    mask = points["observed_mask"].values.astype(bool)
    shape = tuple(int(v) for v in image_shape(points) or ())
    reference = _encoder_features(vae, truth)
    rows = []
    for row, sets in completed_sets(samples, points, run_name).items():
        fid = np.array([frechet_distance(_encoder_features(vae, s), reference) for s in sets])
        f1 = f1_missing(sets, truth, mask)
        ds = xr.Dataset(
            {
                "fid": (("imputation",), fid),
                "f1": ((), float(f1["f1"])),
                "inverse_f1": ((), float(f1["inverse_f1"])),
                "ssim": ((), float(ssim(sets, truth, shape, kernel_size=config.ssim_kernel_size,
                                        sigma=config.ssim_sigma))),
            },
            coords={"imputation": np.arange(len(sets))},
        ).expand_dims(sampler=[row])
        rows.append(ds)
    out = xr.concat(rows, dim="sampler")
    out["fid"].attrs.update(long_name="FID of the imputed test set, VAE-encoder features", units="1")
    out["f1"].attrs.update(long_name="F1 of the missing pixels (micro, pooled over images and imputations)")
    out["inverse_f1"].attrs.update(long_name="F1 of the missing pixels with 0 and 1 swapped")
    out["ssim"].attrs.update(long_name="SSIM of the imputed images (Gaussian kernel, data range 1)")
    return out


def assemble_grid(
    metrics: dict[tuple[str, int], list[xr.Dataset]], dataset: xr.Dataset, sampler_order: list[str]
) -> xr.Dataset:
    """The grid on (sampler, missingness, seed, imputation); ``metrics[(level, seed)]`` lists runs."""
    levels = [lv for lv in LEVELS if any(key[0] == lv for key in metrics)]
    seeds = sorted({key[1] for key in metrics})
    per_level = []
    for level in levels:
        per_seed = []
        for seed in seeds:
            per_seed.append(stack_runs(metrics[(level, seed)], sampler_order).expand_dims(seed=[seed]))
        per_level.append(xr.concat(per_seed, dim="seed").expand_dims(missingness=[level]))
    grid = xr.concat(per_level, dim="missingness").transpose("sampler", "missingness", "seed", ...)
    grid = grid.assign_coords(
        num_missing_quadrants=("missingness", [LEVELS[lv] for lv in grid["missingness"].values]),
        dataset=dataset.attrs.get("name", ""),
    )
    grid.attrs.update(data_attrs(dataset))
    return grid
