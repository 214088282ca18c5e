"""Per-feature log-likelihoods of factorised decoders."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution, Independent

__all__ = ["per_feature_log_prob"]


def per_feature_log_prob(dist: Distribution, x: Tensor) -> Tensor:
    """``log p(x_d | z)`` for every feature ``d``: shape ``(..., D)``.

    ``dist`` is a decoder distribution that factorises over the last axis: either batch shape
    ``(..., D)`` with an empty event shape, or ``Independent`` over such a distribution.
    """
    if isinstance(dist, Independent):
        if dist.reinterpreted_batch_ndims != 1:
            raise ValueError(
                "decoder must factorise over the last axis only; got Independent with "
                f"reinterpreted_batch_ndims={dist.reinterpreted_batch_ndims} (flatten images to D)"
            )
        dist = dist.base_dist
    if dist.event_shape != ():
        raise ValueError(
            f"decoder distribution {type(dist).__name__} has event shape {tuple(dist.event_shape)}; "
            "vaeinfer needs a decoder factorised over features (batch shape (..., D))"
        )
    return dist.log_prob(x)
