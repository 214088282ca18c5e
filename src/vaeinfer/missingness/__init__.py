"""Missingness patterns; every random pattern takes an explicit generator."""

from vaeinfer.missingness.points import toy_grid_test_points

__all__ = ["toy_grid_test_points"]
