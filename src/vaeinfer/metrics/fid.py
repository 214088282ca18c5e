r"""Fréchet distance between Gaussian fits of two feature sets (FID), spec sections 3.2 (b) and 3.3.

.. math:: \mathrm{FID} = \|\mu_a - \mu_b\|^2
          + \operatorname{tr}\big(\Sigma_a + \Sigma_b - 2(\Sigma_a\Sigma_b)^{1/2}\big),

the squared 2-Wasserstein distance between :math:`\mathcal N(\mu_a, \Sigma_a)` and
:math:`\mathcal N(\mu_b, \Sigma_b)`. As in the paper the matrix square root is
:func:`scipy.linalg.sqrtm` and only its real part is used. Means and covariances are the sample
mean and the unbiased sample covariance (``np.cov(features, rowvar=False)``, ddof = 1) of the
features, in float64. The features themselves (classifier logits, VAE-encoder outputs) are the
caller's business.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg

__all__ = ["feature_statistics", "frechet_distance", "gaussian_frechet"]


def _as_array(a: object, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def feature_statistics(features: object) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean (F,) and unbiased sample covariance (F, F) of ``features`` (N, F), N >= 2."""
    f = _as_array(features, "features")
    if f.ndim != 2:
        raise ValueError(f"features must have shape (N, F), got {f.shape}")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {f.shape[0]}")
    if f.shape[1] < 1:
        raise ValueError("features must have at least one dimension")
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def gaussian_frechet(mu_a: object, cov_a: object, mu_b: object, cov_b: object) -> float:
    r"""Fréchet distance :math:`\|\mu_a-\mu_b\|^2 + \operatorname{tr}(\Sigma_a+\Sigma_b-2(\Sigma_a\Sigma_b)^{1/2})`.

    ``(Σ_a Σ_b)^{1/2}`` is the real part of :func:`scipy.linalg.sqrtm`. If it is not finite
    (singular products), ``1e-6 I`` is added to both covariances and it is recomputed, as in
    the reference FID implementation (pytorch-fid).
    """
    mu_a, mu_b = _as_array(mu_a, "mu_a"), _as_array(mu_b, "mu_b")
    cov_a, cov_b = _as_array(cov_a, "cov_a"), _as_array(cov_b, "cov_b")
    if mu_a.ndim != 1 or mu_a.shape != mu_b.shape:
        raise ValueError(f"mu_a and mu_b must be vectors of the same length, got {mu_a.shape} and {mu_b.shape}")
    dim = mu_a.shape[0]
    if cov_a.shape != (dim, dim) or cov_b.shape != (dim, dim):
        raise ValueError(f"covariances must have shape ({dim}, {dim}), got {cov_a.shape} and {cov_b.shape}")
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.all(np.isfinite(covmean)):
        offset = 1e-6 * np.eye(dim)
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def frechet_distance(features_a: object, features_b: object) -> float:
    """FID between feature sets ``features_a`` (Na, F) and ``features_b`` (Nb, F), Na, Nb >= 2.

    Numpy arrays or torch tensors; computed in float64 (module docstring).
    """
    mu_a, cov_a = feature_statistics(features_a)
    mu_b, cov_b = feature_statistics(features_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature dimensions differ: {mu_a.shape[0]} and {mu_b.shape[0]}")
    return gaussian_frechet(mu_a, cov_a, mu_b, cov_b)
