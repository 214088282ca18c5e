"""Missingness patterns: exact-fraction MCAR, quadrant masks, dropping unobserved rows."""

import math

import pytest
import torch

from vaeinfer.missingness import drop_rows_with_nothing_observed, mcar_exact_fraction, quadrant_masks


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 1.0])
def test_mcar_missing_fraction_is_exact(fraction):
    mask = mcar_exact_fraction((37, 11), fraction, generator=_g())
    assert mask.dtype == torch.bool and mask.shape == (37, 11)
    assert int((~mask).sum()) == round(fraction * 37 * 11)


def test_mcar_is_uniform_over_entries_and_seeded():
    # Each entry is missing with probability 1/2; over 400 masks its count is Binomial(400, 1/2).
    counts = sum((~mcar_exact_fraction((6, 5), 0.5, generator=_g(s))).int() for s in range(400))
    sd = math.sqrt(400 * 0.25)
    assert float((counts - 200).abs().max()) < 5 * sd
    assert torch.equal(mcar_exact_fraction((6, 5), 0.5, generator=_g(3)),
                       mcar_exact_fraction((6, 5), 0.5, generator=_g(3)))
    with pytest.raises(ValueError, match="missing_fraction"):
        mcar_exact_fraction((2, 2), 1.5, generator=_g())


@pytest.mark.parametrize("num_missing", [1, 2, 3])
def test_quadrant_masks_remove_whole_quadrants(num_missing):
    masks = quadrant_masks(50, 28, 28, num_missing, generator=_g()).reshape(50, 28, 28)
    for image in masks:
        blocks = [image[:14, :14], image[:14, 14:], image[14:, :14], image[14:, 14:]]
        states = [bool(b.all()) for b in blocks]
        assert all(bool(b.all()) or not bool(b.any()) for b in blocks)  # each quadrant all or nothing
        assert states.count(False) == num_missing
    with pytest.raises(ValueError, match="1, 2 or 3"):
        quadrant_masks(1, 28, 28, 4, generator=_g())


def test_quadrant_choice_is_uniform():
    masks = quadrant_masks(4000, 4, 4, 1, generator=_g()).reshape(4000, 4, 4)
    top_left_missing = (~masks[:, 0, 0]).float().mean()
    assert abs(float(top_left_missing) - 0.25) < 5 * math.sqrt(0.25 * 0.75 / 4000)


def test_rows_with_nothing_observed_are_dropped():
    x = torch.arange(12.0).reshape(4, 3)
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True], [False, False, False]])
    kept_x, kept_mask, index = drop_rows_with_nothing_observed(x, mask)
    assert index.tolist() == [0, 2]
    assert torch.equal(kept_x, x[[0, 2]]) and torch.equal(kept_mask, mask[[0, 2]])


def test_block_masks_observe_exactly_the_listed_rectangles():
    from vaeinfer.missingness import block_masks

    masks = block_masks((4, 5), [[[0, 0, 2, 2]], [[3, 4, 1, 1], [1, 1, 1, 3]]])
    assert masks.shape == (2, 20) and masks.dtype == torch.bool
    first = masks[0].reshape(4, 5)
    assert first[:2, :2].all() and first.sum() == 4
    second = masks[1].reshape(4, 5)
    assert second[3, 4] and second[1, 1:4].all() and second.sum() == 4


@pytest.mark.parametrize("blocks", [[[]], [[[3, 4, 2, 1]]], [[[0, 0, 1]]]])
def test_block_masks_reject_empty_or_out_of_image_blocks(blocks):
    from vaeinfer.missingness import block_masks

    with pytest.raises(ValueError, match="block"):
        block_masks((4, 5), blocks)
