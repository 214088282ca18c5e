"""The 13-component 2-D grid mixture of Gaussians (Simkus & Gutmann 2023, "grid2dmog4").

Components (before standardisation; isotropic, equal weights):

====  =====================================================  =====
comp  centre                                                 sigma
====  =====================================================  =====
0     (0, -30)                                               2
1-3   (15, -15), (0, -15), (-15, -15)                        1.75
4-8   (-30, 0), (-15, 0), (0, 0), (15, 0), (30, 0)           1.5
9-11  (7.5, 15), (0, 15), (-7.5, 15)                         1.25
12    (0, 30)                                                1
====  =====================================================  =====

The data are standardised by the mixture's exact marginal mean and standard deviation (computed
here from the parameters: s = (14.787, 15.640)), and the stored parameters are those of the
standardised mixture, so exact densities can be computed from them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from vaeinfer import random as vrandom

__all__ = ["GaussianMixture", "grid_mixture", "sample_mixture"]

_CENTRES = [
    (0, -30),
    (15, -15), (0, -15), (-15, -15),
    (-30, 0), (-15, 0), (0, 0), (15, 0), (30, 0),
    (7.5, 15), (0, 15), (-7.5, 15),
    (0, 30),
]  # fmt: skip
_SIGMAS = [2.0] + [1.75] * 3 + [1.5] * 5 + [1.25] * 3 + [1.0]


class GaussianMixture(NamedTuple):
    """A mixture of Gaussians with diagonal covariances.

    Attributes:
        weights: (C,) mixture weights.
        means: (C, D) component means.
        variances: (C, D) per-dimension component variances.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    def marginal_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and standard deviation of the mixture, per dimension."""
        w = self.weights[:, None]
        mean = (w * self.means).sum(0)
        second = (w * (self.variances + self.means**2)).sum(0)
        return mean, np.sqrt(second - mean**2)

    def standardise(self) -> GaussianMixture:
        """The mixture of the standardised variable (x - mean) / std."""
        mean, std = self.marginal_moments()
        return GaussianMixture(self.weights, (self.means - mean) / std, self.variances / std**2)


def grid_mixture() -> GaussianMixture:
    """The standardised 13-component grid mixture."""
    means = np.asarray(_CENTRES, dtype=np.float64)
    variances = np.repeat(np.asarray(_SIGMAS)[:, None] ** 2, 2, axis=1)
    weights = np.full(len(_CENTRES), 1.0 / len(_CENTRES))
    return GaussianMixture(weights, means, variances).standardise()


def sample_mixture(
    mixture: GaussianMixture, n: int, *, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``n`` draws ``x`` (n, D) float32 and their component labels (n,) int64."""
    weights = torch.as_tensor(mixture.weights, dtype=torch.float64)
    labels = vrandom.multinomial(weights, n, generator=generator)
    loc = torch.as_tensor(mixture.means, dtype=torch.float64)[labels]
    scale = torch.as_tensor(mixture.variances, dtype=torch.float64)[labels].sqrt()
    x = vrandom.normal(loc, scale, generator=generator)
    return x.to(torch.float32), labels
