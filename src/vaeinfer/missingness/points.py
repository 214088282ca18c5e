"""Hand-made test points with NaN marking the missing coordinate."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["TOY_GRID_VALUES", "toy_grid_test_points"]

#: observed values of the toy grid's hand-made points (Simkus & Gutmann 2023)
TOY_GRID_VALUES = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)


def toy_grid_test_points(values: Sequence[float] = TOY_GRID_VALUES) -> torch.Tensor:
    """The 2-D test points: first ``(NaN, v)`` for each v (feature 0 missing), then ``(v, NaN)``.

    With the default values these are the paper's 14 points; the pitfall points are index 3
    (x1 = 0 observed), 10 (x0 = 0 observed) and 5 (x1 = 1 observed).
    """
    nan = float("nan")
    rows = [(nan, float(v)) for v in values] + [(float(v), nan) for v in values]
    return torch.tensor(rows, dtype=torch.float32)
