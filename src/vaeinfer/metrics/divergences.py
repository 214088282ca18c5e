r"""Kernel density estimates and divergences between densities on a 1-D grid.

With p the reference and q the estimate, both normalised on the grid by the trapezoidal rule,

.. math::
   \mathrm{KL}(p\,\|\,q) = \int p \log\frac{p}{q}, \qquad
   \mathrm{JSD}(p, q) = \tfrac12 \mathrm{KL}(p\,\|\,m) + \tfrac12 \mathrm{KL}(q\,\|\,m),\ m = \tfrac{p+q}{2},

so :math:`0 \le \mathrm{JSD} \le \log 2`; a value near log 2 = 0.693 means a complete miss.
Densities below ``density_floor`` are raised to it inside the logarithms, so a sampler that misses
a mode gets a large finite KL instead of infinity (JSD needs no floor).
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, stats

__all__ = ["grid_divergences", "kde_density"]


def kde_density(samples: np.ndarray, grid: np.ndarray, *, bandwidth: float = 0.05) -> np.ndarray:
    """Gaussian KDE of 1-D ``samples`` evaluated on ``grid``.

    ``bandwidth`` is scipy's ``bw_method`` factor (the kernel width is ``bandwidth`` times the
    samples' standard deviation). Samples with no spread (a sampler stuck on one value) get a
    kernel one grid step wide instead of the singular KDE scipy would refuse to build.
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        raise ValueError("no finite samples to estimate a density from")
    step = float(np.min(np.diff(grid)))
    if samples.size < 2 or np.std(samples) * bandwidth < step:
        width = max(step, bandwidth * float(np.std(samples)))
        return stats.norm.pdf(grid[:, None], loc=samples[None, :], scale=width).mean(1)
    return stats.gaussian_kde(samples, bw_method=bandwidth)(grid)


def grid_divergences(
    p: np.ndarray, q: np.ndarray, grid: np.ndarray, *, density_floor: float = 1e-12
) -> dict[str, np.ndarray]:
    """KL(p||q), KL(q||p) and JSD between densities ``p`` and ``q`` (..., G) on ``grid`` (G,)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / integrate.trapezoid(p, grid, axis=-1)[..., None]
    q = q / integrate.trapezoid(q, grid, axis=-1)[..., None]
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        log_ratio = np.log(np.maximum(a, density_floor)) - np.log(np.maximum(b, density_floor))
        return integrate.trapezoid(np.where(a > 0, a * log_ratio, 0.0), grid, axis=-1)

    jsd = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    return {"kl_pq": kl(p, q), "kl_qp": kl(q, p), "jsd": np.clip(jsd, 0.0, np.log(2.0))}
