"""The only place where random numbers are drawn.

Every function takes a keyword-only ``torch.Generator`` with no default: randomness is always
explicit and reproducible. ``torch.distributions`` objects are used for densities only, because
their ``sample()`` cannot take a generator; :func:`draw` samples them instead.

Supported distribution types are registered in :data:`DRAWERS`; register your own with
:func:`register_drawer` to sample a custom decoder or encoder family.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Distribution,
    Independent,
    Normal,
    Uniform,
)

__all__ = [
    "DRAWERS",
    "derive_seed",
    "draw",
    "make_generator",
    "multinomial",
    "normal",
    "register_drawer",
    "standard_gamma",
    "uniform",
]


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (CPU and CUDA streams differ)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a hash of ``parts``, stable across runs, machines and Python versions."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def uniform(shape: tuple[int, ...], *, generator: torch.Generator, like: Tensor) -> Tensor:
    """U(0, 1) draws of ``shape`` with the dtype and device of ``like``."""
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)


def normal(loc: Tensor, scale: Tensor, *, generator: torch.Generator) -> Tensor:
    """N(loc, scale^2) draws of the broadcast shape of ``loc`` and ``scale``."""
    shape = torch.broadcast_shapes(loc.shape, scale.shape)
    eps = torch.randn(shape, generator=generator, dtype=loc.dtype, device=loc.device)
    return loc + scale * eps


def multinomial(probs: Tensor, num_samples: int, *, generator: torch.Generator) -> Tensor:
    """``num_samples`` i.i.d. category indices per row of ``probs`` (shape ``(..., C)``)."""
    flat = probs.reshape(-1, probs.shape[-1])
    idx = torch.multinomial(flat, num_samples, replacement=True, generator=generator)
    return idx.reshape(*probs.shape[:-1], num_samples)


def standard_gamma(concentration: Tensor, *, generator: torch.Generator) -> Tensor:
    """Gamma(concentration, 1) draws by Marsaglia & Tsang (2000), vectorised.

    For ``a < 1`` the boost ``Gamma(a) = Gamma(a + 1) * U^(1/a)`` is used. Each element is
    resampled until accepted; acceptance is above 95% so the loop ends after a few passes.
    """
    a = concentration
    boost = a < 1
    a1 = torch.where(boost, a + 1, a)
    d = a1 - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(a)
    pending = torch.ones_like(a, dtype=torch.bool)
    while bool(pending.any()):
        x = torch.randn(a.shape, generator=generator, dtype=a.dtype, device=a.device)
        u = torch.rand(a.shape, generator=generator, dtype=a.dtype, device=a.device)
        v = (1 + c * x) ** 3
        log_v = torch.log(v.clamp_min(torch.finfo(a.dtype).tiny))
        ok = (v > 0) & (torch.log(u) < 0.5 * x**2 + d - d * v + d * log_v)
        take = pending & ok
        out = torch.where(take, d * v, out)
        pending = pending & ~ok
    u = torch.rand(a.shape, generator=generator, dtype=a.dtype, device=a.device)
    return torch.where(boost, out * u ** (1.0 / a), out)


def _draw_normal(d: Normal, shape: torch.Size, generator: torch.Generator) -> Tensor:
    loc, scale = d.loc.expand(shape), d.scale.expand(shape)
    return normal(loc, scale, generator=generator)


def _draw_uniform(d: Uniform, shape: torch.Size, generator: torch.Generator) -> Tensor:
    low, high = d.low.expand(shape), d.high.expand(shape)
    return low + (high - low) * uniform(tuple(shape), generator=generator, like=low)


def _draw_bernoulli(d: Bernoulli, shape: torch.Size, generator: torch.Generator) -> Tensor:
    probs = d.probs.expand(shape)
    return (uniform(tuple(shape), generator=generator, like=probs) < probs).to(probs.dtype)


def _draw_beta(d: Beta, shape: torch.Size, generator: torch.Generator) -> Tensor:
    a = d.concentration1.expand(shape)
    b = d.concentration0.expand(shape)
    ga = standard_gamma(a, generator=generator)
    gb = standard_gamma(b, generator=generator)
    # NOTE: the ratio can round to exactly 0 or 1 in float32; keep draws in the open interval.
    tiny = torch.finfo(a.dtype).eps
    return (ga / (ga + gb)).clamp(tiny, 1 - tiny)


def _draw_categorical(d: Categorical, shape: torch.Size, generator: torch.Generator) -> Tensor:
    probs = d.probs.expand(*shape, d.probs.shape[-1])
    return multinomial(probs, 1, generator=generator)[..., 0]


def _draw_independent(d: Independent, shape: torch.Size, generator: torch.Generator) -> Tensor:
    return draw(d.base_dist, generator=generator, sample_shape=shape[: len(shape) - len(d.base_dist.batch_shape)])


DRAWERS: dict[type, Callable[[Distribution, torch.Size, torch.Generator], Tensor]] = {
    Normal: _draw_normal,
    Uniform: _draw_uniform,
    Bernoulli: _draw_bernoulli,
    Beta: _draw_beta,
    Categorical: _draw_categorical,
    Independent: _draw_independent,
}


def register_drawer(
    dist_type: type, fn: Callable[[Distribution, torch.Size, torch.Generator], Tensor]
) -> None:
    """Teach :func:`draw` to sample ``dist_type``: ``fn(dist, shape, generator) -> Tensor``.

    ``shape`` is ``sample_shape + batch_shape + event_shape`` of the requested draw.
    """
    DRAWERS[dist_type] = fn


def draw(
    dist: Distribution,
    *,
    generator: torch.Generator,
    sample_shape: tuple[int, ...] | torch.Size = (),
) -> Tensor:
    """Draw from ``dist`` with ``generator``; the shape is ``sample_shape + dist.shape``."""
    for cls in type(dist).__mro__:
        fn = DRAWERS.get(cls)
        if fn is not None:
            shape = torch.Size(sample_shape) + dist.batch_shape + dist.event_shape
            return fn(dist, shape, generator)
    raise TypeError(
        f"vaeinfer cannot draw from {type(dist).__name__}: it has no generator-aware sampler. "
        "Register one with vaeinfer.random.register_drawer("
        f"{type(dist).__name__}, fn) or use one of: {', '.join(t.__name__ for t in DRAWERS)}."
    )
