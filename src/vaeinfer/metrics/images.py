r"""Point-wise image metrics of binary imputations (Omniglot, spec section 3.3).

* :func:`f1_missing`: micro F1 on the **missing** pixels, pooled over data points × imputations,

  .. math:: F_1 = \frac{TP}{TP + \tfrac12(FP + FN)},

  with TP/FP/FN counted for the class 1 (ink); the **inverse F1** is the same with 0 and 1 swapped
  (TN / (TN + ½(FN + FP))), which rewards getting the background right.
* :func:`ssim`: mean structural similarity over images × imputations, each image's SSIM from
  torchmetrics' ``structural_similarity_index_measure`` with a Gaussian window, ``data_range=1``
  and the default constants k1 = 0.01, k2 = 0.03.

About the SSIM window: with ``gaussian_kernel=True`` torchmetrics ignores ``kernel_size`` and uses
a window of :math:`2\lfloor 3.5\sigma + 0.5\rfloor + 1` pixels (11 for σ = 1.5), reflection-padded
so the SSIM map has the image's size. :func:`ssim` therefore ties the two together: ``sigma=None``
(default) picks ``sigma = 1.5 * kernel_size / 11`` (the standard 11/1.5 ratio; it maps back to
``kernel_size`` for every odd size ≥ 3), and an explicit ``sigma`` must give that window size.
The window may not be larger than the image: 28×28 Omniglot images use the standard 11 / 1.5,
while 8×8 images need e.g. ``kernel_size=7`` (σ ≈ 0.95) or smaller.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

__all__ = ["f1_missing", "gaussian_window_size", "ssim"]


def _binary(a: object, name: str) -> Tensor:
    t = a.detach() if isinstance(a, Tensor) else torch.as_tensor(np.asarray(a))
    if t.dtype == torch.bool:
        return t
    if t.dtype.is_complex:
        raise ValueError(f"{name} must be binary (0/1), got complex values")
    if not bool(((t == 0) | (t == 1)).all()):
        raise ValueError(f"{name} must be binary: every entry 0 or 1 (NaN is not allowed)")
    return t != 0


def _check_shapes(imputations: Tensor, truth: Tensor) -> None:
    if imputations.dim() != 3:
        raise ValueError(f"imputations must have shape (N, B, D), got {tuple(imputations.shape)}")
    if tuple(truth.shape) != tuple(imputations.shape[1:]):
        raise ValueError(f"truth must have shape {tuple(imputations.shape[1:])} (B, D), got {tuple(truth.shape)}")
    if imputations.shape[0] == 0:
        raise ValueError("no imputations (N = 0)")


def f1_missing(imputations: object, truth: object, observed_mask: object) -> dict[str, float]:
    """Micro F1 and inverse F1 on the missing pixels (spec 3.3), pooled over points × imputations.

    ``imputations`` (N, B, D) and ``truth`` (B, D) are binary (bool or 0/1 numbers);
    ``observed_mask`` (B, D) is True where observed (those pixels are ignored). Returns
    ``{"f1": ..., "inverse_f1": ...}``; a score whose denominator is 0 (no positive pixel in either
    the truth or the imputations of the missing pixels) is NaN.
    """
    imp = _binary(imputations, "imputations")
    tru = _binary(truth, "truth")
    _check_shapes(imp, tru)
    obs = _binary(observed_mask, "observed_mask")
    if tuple(obs.shape) != tuple(tru.shape):
        raise ValueError(f"observed_mask must have shape {tuple(tru.shape)}, got {tuple(obs.shape)}")
    missing = ~obs.to(imp.device)
    if not bool(missing.any()):
        raise ValueError("no missing pixels to score")
    tru = tru.to(imp.device)
    pred = imp[:, missing]  # (N, number of missing pixels)
    target = tru[missing][None, :]
    tp = int((pred & target).sum())
    tn = int((~pred & ~target).sum())
    fp = int((pred & ~target).sum())
    fn = int((~pred & target).sum())

    def score(hit: int, wrong: int) -> float:
        denom = hit + 0.5 * wrong
        return hit / denom if denom > 0 else math.nan

    return {"f1": score(tp, fp + fn), "inverse_f1": score(tn, fp + fn)}


def gaussian_window_size(sigma: float) -> int:
    """The Gaussian window torchmetrics' SSIM uses for ``sigma``: ``2 * int(3.5 * sigma + 0.5) + 1``."""
    return 2 * int(3.5 * float(sigma) + 0.5) + 1


def ssim(
    imputations: object,
    truth: object,
    image_shape: tuple[int, int],
    *,
    kernel_size: int = 11,
    sigma: float | None = None,
    batch_size: int = 4096,
) -> float:
    """Mean SSIM (spec 3.3) of ``imputations`` (N, B, D) against ``truth`` (B, D), over images × imputations.

    Rows are reshaped to single-channel images of ``image_shape`` = (H, W) with H·W = D. Each image's
    SSIM is torchmetrics' ``structural_similarity_index_measure`` (Gaussian window, ``data_range=1``,
    mean over the SSIM map); the result is the mean over all N·B images, computed ``batch_size``
    images at a time. Window: ``kernel_size`` (odd, ≤ min(H, W)) with ``sigma`` as in the module
    docstring (None: 1.5 · kernel_size / 11). Values need not be binary but should lie in [0, 1].
    """
    imp = imputations.detach() if isinstance(imputations, Tensor) else torch.as_tensor(np.asarray(imputations))
    tru = truth.detach() if isinstance(truth, Tensor) else torch.as_tensor(np.asarray(truth))
    imp, tru = imp.to(torch.float64), tru.to(torch.float64).to(imp.device)
    _check_shapes(imp, tru)
    for t, name in ((imp, "imputations"), (tru, "truth")):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    if len(image_shape) != 2 or any(int(s) < 1 for s in image_shape):
        raise ValueError(f"image_shape must be (H, W) with positive sizes, got {image_shape}")
    H, W = (int(s) for s in image_shape)
    if H * W != imp.shape[-1]:
        raise ValueError(f"image_shape {image_shape} has {H * W} pixels but the rows have D = {imp.shape[-1]}")
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive integer, got {kernel_size!r}")
    kernel_size = int(kernel_size)
    if kernel_size > min(H, W):
        raise ValueError(
            f"SSIM window kernel_size={kernel_size} is larger than the {H}x{W} image; use an odd "
            f"kernel_size <= {min(H, W)} (e.g. 7 for 8x8 images)"
        )
    if sigma is None:
        sigma = 1.5 * kernel_size / 11.0
    elif not (math.isfinite(float(sigma)) and float(sigma) > 0):
        raise ValueError(f"sigma must be positive, got {sigma}")
    if gaussian_window_size(sigma) != kernel_size:
        lo, hi = (kernel_size // 2 - 0.5) / 3.5, (kernel_size // 2 + 0.5) / 3.5
        raise ValueError(
            f"torchmetrics uses a {gaussian_window_size(sigma)}-pixel Gaussian window for sigma={sigma}, not "
            f"kernel_size={kernel_size}; choose sigma in [{lo:.4g}, {hi:.4g}) or leave sigma=None"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    N, B, _ = imp.shape
    preds = imp.reshape(N * B, 1, H, W)
    target = tru[None].expand(N, -1, -1).reshape(N * B, 1, H, W)
    total = torch.zeros((), dtype=torch.float64)
    for start in range(0, N * B, batch_size):
        per_image = structural_similarity_index_measure(
            preds[start : start + batch_size],
            target[start : start + batch_size],
            gaussian_kernel=True,
            sigma=float(sigma),
            kernel_size=kernel_size,
            data_range=1.0,
            reduction="none",
        )
        total += per_image.sum().cpu()
    return float(total / (N * B))
