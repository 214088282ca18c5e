"""Metrics: exact conditionals by quadrature, KDE and divergences on a grid."""

from vaeinfer.metrics.conditional import conditional_density_by_quadrature
from vaeinfer.metrics.divergences import grid_divergences, kde_density

__all__ = ["conditional_density_by_quadrature", "grid_divergences", "kde_density"]
