"""Plain networks (no probabilistic logic)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["Dropout", "ResidualMLP", "bind_generator", "init_parameters", "linear"]


def linear(in_features: int, out_features: int) -> nn.Linear:
    """An ``nn.Linear`` whose parameters are left uninitialised (no global-RNG draw).

    Initialise with :func:`init_parameters` or load a checkpoint.
    """
    return nn.utils.skip_init(nn.Linear, in_features, out_features)


def init_parameters(module: nn.Module, *, generator: torch.Generator) -> nn.Module:
    """PyTorch's default ``nn.Linear`` initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    weights and biases, drawn from ``generator`` (on the CPU, so it does not depend on the device).
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                for p in (m.weight, m.bias):
                    if p is not None:
                        u = torch.rand(p.shape, generator=generator, dtype=torch.float64)
                        p.copy_(((2 * u - 1) * bound).to(p.dtype))
    return module


class Dropout(nn.Module):
    """Dropout that draws its mask from an explicitly bound ``torch.Generator``.

    ``torch.nn.Dropout`` uses the global RNG; this one refuses to run in training mode until a
    generator is bound with :func:`bind_generator`, so training stays reproducible.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, h: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return h
        if self.generator is None:
            raise RuntimeError("Dropout in training mode needs a generator: use bind_generator()")
        keep = torch.rand(h.shape, generator=self.generator, dtype=h.dtype, device=h.device)
        return h * (keep >= self.p) / (1.0 - self.p)


@contextmanager
def bind_generator(module: nn.Module, generator: torch.Generator) -> Iterator[None]:
    """Bind ``generator`` to every :class:`Dropout` inside ``module`` for the ``with`` block."""
    layers = [m for m in module.modules() if isinstance(m, Dropout)]
    for m in layers:
        m.generator = generator
    try:
        yield
    finally:
        for m in layers:
            m.generator = None


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(linear(width, width), nn.ReLU(), Dropout(dropout), linear(width, width))

    def forward(self, h: Tensor) -> Tensor:
        return torch.relu(h + self.body(h))


class ResidualMLP(nn.Module):
    """``Linear -> ReLU -> num_blocks x [Linear-ReLU-Dropout-Linear + skip, ReLU] -> Linear``.

    The residual fully connected network of Simkus & Gutmann (2023), used for the toy VAE's encoder
    and decoder and for the UCI VAEs. Acts on the last axis, so any leading batch shape works. Parameters start
    uninitialised: call :func:`init_parameters` with a generator, or load a checkpoint.
    """

    def __init__(
        self, in_features: int, out_features: int, *, width: int, num_blocks: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.inp = linear(in_features, width)
        self.blocks = nn.Sequential(*(_ResidualBlock(width, dropout) for _ in range(num_blocks)))
        self.out = linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.blocks(torch.relu(self.inp(x))))
