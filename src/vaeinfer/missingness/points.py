"""Hand-made test points with NaN marking the missing coordinate."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["TOY_GRID_VALUES", "block_masks", "toy_grid_test_points"]

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


def block_masks(
    image_shape: tuple[int, int], observed_blocks: Sequence[Sequence[Sequence[int]]]
) -> torch.Tensor:
    """Hand-made observed-masks from rectangles: ``(num_points, H * W)`` bool, True = observed.

    ``observed_blocks[p]`` lists point p's observed rectangles as ``(row, col, height, width)``
    (a 1 x 1 rectangle is an isolated pixel). This is how the MNIST-GMM test points of Simkus &
    Gutmann (2023) are made: a few small blocks observed, everything else missing, so that the
    class posterior p(c | x_o) stays multimodal (seed000 §2.2).
    """
    height, width = image_shape
    masks = torch.zeros(len(observed_blocks), height, width, dtype=torch.bool)
    for p, blocks in enumerate(observed_blocks):
        if not blocks:
            raise ValueError(f"point {p} has no observed block; give it at least one (row, col, height, width)")
        for block in blocks:
            if len(block) != 4:
                raise ValueError(f"point {p}: a block is (row, col, height, width), got {list(block)}")
            r, c, h, w = (int(v) for v in block)
            if h < 1 or w < 1 or r < 0 or c < 0 or r + h > height or c + w > width:
                raise ValueError(
                    f"point {p}: block {list(block)} does not fit in a {height} x {width} image; "
                    "rows and columns start at 0"
                )
            masks[p, r : r + h, c : c + w] = True
    return masks.reshape(len(observed_blocks), height * width)
