"""Datasets: synthetic generators with their true parameters."""

from vaeinfer.data.toy import GaussianMixture, grid_mixture, sample_mixture

__all__ = ["GaussianMixture", "grid_mixture", "sample_mixture"]
