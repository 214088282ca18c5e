"""Missingness patterns; every random pattern takes an explicit generator."""

from vaeinfer.missingness.patterns import drop_rows_with_nothing_observed, mcar_exact_fraction, quadrant_masks
from vaeinfer.missingness.points import block_masks, toy_grid_test_points

__all__ = [
    "block_masks",
    "drop_rows_with_nothing_observed",
    "mcar_exact_fraction",
    "quadrant_masks",
    "toy_grid_test_points",
]
