"""Random missingness patterns of the primary paper (seed000 §2.3–2.4), seeded explicitly.

Masks are bool tensors with True = observed, the convention of :func:`vaeinfer.sample`.

* :func:`mcar_exact_fraction`: missing completely at random with an *exact* fraction of the whole
  matrix missing (the UCI experiments: 50%), not a Bernoulli draw per entry;
* :func:`quadrant_masks`: images with 1, 2 or 3 of their four quadrants missing (Omniglot);
* :func:`drop_rows_with_nothing_observed`: the rows the paper removes before sampling.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["drop_rows_with_nothing_observed", "mcar_exact_fraction", "quadrant_masks"]


def mcar_exact_fraction(
    shape: tuple[int, int], missing_fraction: float, *, generator: torch.Generator
) -> Tensor:
    """An observed-mask of ``shape`` with exactly ``round(fraction * N * D)`` entries missing.

    The missing entries are a uniformly random subset of all N * D entries (a random permutation
    from ``generator``), so the fraction is exact for the matrix, not per row.
    """
    if not 0.0 <= missing_fraction <= 1.0:
        raise ValueError(f"missing_fraction must be in [0, 1], got {missing_fraction}")
    num_rows, num_features = shape
    total = num_rows * num_features
    num_missing = round(missing_fraction * total)
    order = torch.randperm(total, generator=generator, device=generator.device)
    observed = torch.ones(total, dtype=torch.bool, device=generator.device)
    observed[order[:num_missing]] = False
    return observed.reshape(num_rows, num_features)


def quadrant_masks(
    num_images: int, height: int, width: int, num_missing: int, *, generator: torch.Generator
) -> Tensor:
    """(num_images, height * width) observed-masks with ``num_missing`` of 4 quadrants missing.

    Each image gets its own uniformly random set of ``num_missing`` quadrants (top-left,
    top-right, bottom-left, bottom-right; odd sizes put the extra row/column in the bottom/right
    quadrants).
    """
    if num_missing not in (1, 2, 3):
        raise ValueError(f"num_missing must be 1, 2 or 3 quadrants, got {num_missing}")
    rows = torch.arange(height).unsqueeze(1) >= height // 2
    cols = torch.arange(width).unsqueeze(0) >= width // 2
    quadrant = (2 * rows + cols).reshape(-1)  # (H * W,) in 0..3
    # A random subset of size num_missing per image: the num_missing smallest of 4 uniform keys.
    keys = torch.rand(num_images, 4, generator=generator, device=generator.device).cpu()
    missing_quadrants = keys.argsort(dim=1)[:, :num_missing]  # (num_images, num_missing)
    is_missing = torch.zeros(num_images, 4, dtype=torch.bool)
    is_missing.scatter_(1, missing_quadrants, True)
    return ~is_missing[:, quadrant]


def drop_rows_with_nothing_observed(x: Tensor, observed_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Remove the rows of ``x`` with no observed entry, as the paper does before sampling.

    Returns the kept ``x``, the kept mask and the indices of the kept rows in the input.
    """
    if observed_mask.shape != x.shape or observed_mask.dtype != torch.bool:
        raise ValueError("observed_mask must be a bool tensor with the shape of x")
    keep = torch.nonzero(observed_mask.any(dim=1)).flatten()
    return x[keep], observed_mask[keep], keep
