"""Metrics: exact conditionals by quadrature, KDE and divergences on a grid (toy), and the metrics of the
real-data experiments: exact GMM posteriors and samples (MNIST-GMM), FID, sample-based divergences (UCI)
and image scores (Omniglot)."""

from vaeinfer.metrics.conditional import conditional_density_by_quadrature
from vaeinfer.metrics.divergences import grid_divergences, kde_density
from vaeinfer.metrics.fid import feature_statistics, frechet_distance, gaussian_frechet
from vaeinfer.metrics.gmm import (
    categorical_divergences,
    class_posterior_full,
    class_posterior_observed,
    rao_blackwell_class_posterior,
    sample_conditional,
)
from vaeinfer.metrics.images import f1_missing, gaussian_window_size, ssim
from vaeinfer.metrics.samples import (
    energy_distance,
    gaussian_mmd,
    pick_mmd_blur,
    pick_sinkhorn_blur,
    resolve_backend,
    sinkhorn_divergence,
)

__all__ = [
    "categorical_divergences",
    "class_posterior_full",
    "class_posterior_observed",
    "conditional_density_by_quadrature",
    "energy_distance",
    "f1_missing",
    "feature_statistics",
    "frechet_distance",
    "gaussian_frechet",
    "gaussian_mmd",
    "gaussian_window_size",
    "grid_divergences",
    "kde_density",
    "pick_mmd_blur",
    "pick_sinkhorn_blur",
    "rao_blackwell_class_posterior",
    "resolve_backend",
    "sample_conditional",
    "sinkhorn_divergence",
    "ssim",
]
