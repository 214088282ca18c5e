"""The only place where random numbers are drawn.

Every function takes a keyword-only random source ``generator`` with no default: randomness is
always explicit and reproducible. ``torch.distributions`` objects are used for densities only,
because their ``sample()`` cannot take a generator; :func:`draw` samples them instead.

Supported distribution types are registered in :data:`DRAWERS`; register your own with
:func:`register_drawer` to sample a custom decoder or encoder family.

Random sources
--------------
A source (:data:`RandomSource`) is either

* a ``torch.Generator``: draws come from torch's own samplers (``torch.rand``, ``torch.randn``,
  ``torch.multinomial``) and consume the generator's state; or
* a :class:`PointStreams`: one independent, counter-based stream per data point, so that a
  sampler running ``B`` data points together draws, for each point, exactly the numbers (bit for
  bit) it would draw running that point alone with the same per-point stream.

Contract for a :class:`PointStreams` source:

* The leading axis of every requested draw is the data-point axis and must equal
  ``num_points`` (for :func:`normal` the broadcast shape of ``loc`` and ``scale``, for
  :func:`multinomial` ``probs.shape[:-1]`` with ``probs`` of shape ``(B, ..., C)``, for
  :func:`standard_gamma` ``concentration.shape``, for :func:`draw` ``sample_shape +
  dist.batch_shape + dist.event_shape``); otherwise :class:`ValueError` is raised.
* Element ``e`` of point ``b`` in call number ``c`` depends only on ``keys[b]``, ``c``, the flat
  (row-major) position of ``e`` within point ``b``'s slice ``[b, ...]`` and an internal sub-stream
  id; never on the other points or on the batch size.
* Every public primitive call (:func:`uniform`, :func:`normal`, :func:`multinomial`,
  :func:`standard_gamma`) advances ``counter`` by exactly 1, whatever the data; a failing call
  (wrong shape, invalid parameters) does not advance it. :func:`draw` advances it by the number of
  primitive calls its drawer makes, which depends only on the distribution type (Beta: 2, the
  others: 1).
* Bits: ``key_b = H(H(seed), point_id_b)`` (:meth:`PointStreams.from_seed`) or 64 random bits
  from a ``torch.Generator`` (:meth:`PointStreams.from_generator`). A call uses the 64-bit key
  ``k = H(H(key_b, c), s)`` for sub-stream ``s``, where ``H(h, v) = splitmix(h ^ splitmix(v))``,
  ``splitmix(x) = mix(x + GOLDEN)`` and ``mix`` is the SplitMix64 finaliser, on int64 tensors of
  one key per point. Per element the work is 32-bit: with ``k1`` and ``k2`` the low and high
  halves of ``k``, word ``j`` of the sub-stream is ``hash32(hash32(k1 + (j + 1) * G32) ^ k2)``,
  where ``hash32`` is the lowbias32 integer hash and ``G32 = 0x9E3779B9``. Element ``e`` uses word
  ``e``, or for float64 the 64-bit word ``w[2e] + 2**32 * w[2e + 1]``. The ``2**32`` words of a
  sub-stream are distinct and then repeat (a draw of more than ``2**32`` words per point would
  see them again). All integer arithmetic wraps (mod 2**64 or 2**32) and logical right shifts are
  arithmetic shifts with the copied sign bits masked off.
* Uniforms lie strictly inside (0, 1) on a symmetric grid that is exactly representable in the
  requested dtype: with ``p`` fraction bits (23 for float32, 52 for float64, 10 for float16, 7 for
  bfloat16) and ``k`` the top ``p`` bits of the element's (32- or 64-bit) word,
  ``u = (2k + 1) / 2**(p + 1)`` (the midpoint of the k-th of ``2**p`` equal cells). One more bit
  would not be representable near 1 and would round to exactly 1.0.
* Normals are by inverse CDF, one word (float64: two) per normal: float64 normals are
  ``ndtri(u)`` of the float64 uniform (|z| < 8.3); the others are ``sqrt(2) * erfinv(2u - 1)``
  computed in float32 from the float32 uniform (within 1.2e-7 of the exact quantile, |z| <= 5.29),
  cast to the requested dtype.
* Categories (:func:`multinomial`, Categorical) are found by inverse CDF: float64 cumulative sums
  of the (unnormalised) probabilities, ``torch.searchsorted(..., right=True)`` of a float64
  uniform, clamped to ``C - 1``. Categories with zero probability are never chosen.
* Bernoulli is ``u < p``. Gamma is Marsaglia–Tsang with the ``a < 1`` boost; attempt ``t`` uses
  sub-streams ``2t + 1`` (normal) and ``2t + 2`` (uniform) of the same call, and the boost
  uniform sub-stream 0, so the data-dependent number of rejection passes never touches
  ``counter``.
* Keys are moved to the device of the tensor that fixes the draw's device (``like``, ``loc``,
  ``probs``, ``concentration``); keep them there with :meth:`PointStreams.to` to avoid copies.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Sequence
from typing import TypeAlias

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

from vaeinfer._stream_bits import (
    _combine,
    _fraction_bits,
    _grid_normal,
    _grid_uniform,
    _i64,
    _splitmix64,
    _std_normal,
    _stream_keys,
    _unit_interval,
    _word,
    _words_at,
)

__all__ = [
    "DRAWERS",
    "PointStreams",
    "RandomSource",
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


_MAX_GAMMA_ATTEMPTS = 1000  # acceptance > 95% per attempt: never reached for valid input


class PointStreams:
    """Independent random streams, one per data point, counter-based (stateless hash).

    ``keys`` (``(B,)`` int64) identify the streams; ``counter`` counts the primitive calls made so
    far and is advanced by exactly 1 by each of them, whatever the data. The numbers drawn for
    point ``b`` depend only on ``keys[b]`` and the sequence of calls, so ``streams.select(b)`` run
    alone reproduces point ``b``'s numbers of a batched run bit for bit (see the module docstring).

    ``select``/``[]``/``to`` return new objects carrying the current ``counter``; afterwards the
    original and the copy advance independently.
    """

    __slots__ = ("counter", "keys")

    def __init__(self, keys: Tensor, counter: int = 0) -> None:
        if not isinstance(keys, Tensor) or keys.dtype != torch.int64 or keys.dim() != 1:
            raise TypeError("PointStreams keys must be a 1-D int64 tensor (one key per data point)")
        counter = operator.index(counter)
        if counter < 0:
            raise ValueError(f"PointStreams counter must be >= 0, got {counter}")
        self.keys = keys
        self.counter = counter

    @classmethod
    def from_seed(
        cls,
        seed: int,
        point_ids: Sequence[int] | Tensor,
        device: torch.device | str | None = None,
    ) -> PointStreams:
        """Streams whose key for point ``p`` is ``H(H(seed), p)``: point ``p``'s stream depends
        only on ``(seed, p)``, not on which other points are drawn with it.

        ``point_ids`` are integers (any sign; taken mod 2**64), e.g. row indices of the data set.
        ``device`` defaults to that of ``point_ids`` when it is a tensor, else the CPU.
        """
        seed = operator.index(seed)
        if isinstance(point_ids, Tensor):
            if point_ids.dtype.is_floating_point or point_ids.dtype.is_complex or point_ids.dtype == torch.bool:
                raise TypeError(f"point_ids must be integers, got a {point_ids.dtype} tensor")
            if point_ids.dim() > 1:
                raise ValueError(f"point_ids must be 1-D, got shape {tuple(point_ids.shape)}")
            ids = point_ids.reshape(-1).to(torch.int64)
            device = point_ids.device if device is None else device
        else:
            ids = torch.tensor([_i64(operator.index(p)) for p in point_ids], dtype=torch.int64)
        device = torch.device("cpu" if device is None else device)
        ids = ids.to(device)
        root = _splitmix64(_word(seed, device))
        return cls(_combine(root, ids), 0)

    @classmethod
    def from_generator(
        cls,
        generator: torch.Generator,
        num_points: int,
        device: torch.device | str | None = None,
    ) -> PointStreams:
        """Streams with 64-bit keys drawn from ``generator`` (which advances); ``device``
        defaults to the generator's device."""
        num_points = operator.index(num_points)
        if num_points < 0:
            raise ValueError(f"num_points must be >= 0, got {num_points}")
        halves = torch.randint(0, 1 << 32, (num_points, 2), generator=generator,
                               dtype=torch.int64, device=generator.device)
        keys = (halves[:, 0] << 32) | halves[:, 1]
        return cls(keys.to(generator.device if device is None else device), 0)

    @property
    def num_points(self) -> int:
        return int(self.keys.shape[0])

    @property
    def device(self) -> torch.device:
        return self.keys.device

    def select(self, index: int | slice | Sequence[int] | Tensor) -> PointStreams:
        """The streams of a subset of points, with the same ``counter``.

        An ``int`` keeps the point axis (``select(b)`` has one point, like ``x[b:b + 1]``);
        slices, integer sequences and integer or boolean tensors select as in torch indexing.
        """
        if isinstance(index, slice):
            keys = self.keys[index]
        elif isinstance(index, Tensor) and index.dim() > 0:
            keys = self.keys[index.to(self.keys.device)]
        elif isinstance(index, (Tensor, int)) or hasattr(index, "__index__"):
            b = operator.index(index)
            if not -self.num_points <= b < self.num_points:
                raise IndexError(f"point {b} is out of range for {self.num_points} points")
            keys = self.keys[b : b + 1] if b != -1 else self.keys[b:]
        else:
            keys = self.keys[torch.as_tensor(list(index), dtype=torch.int64, device=self.keys.device)]
        return PointStreams(keys, self.counter)

    __getitem__ = select

    def to(self, device: torch.device | str) -> PointStreams:
        """The same streams (and counter) with keys on ``device``."""
        return PointStreams(self.keys.to(device), self.counter)

    def __repr__(self) -> str:
        return f"PointStreams(num_points={self.num_points}, counter={self.counter}, device='{self.device}')"

    def _begin_call(self, shape: tuple[int, ...] | torch.Size, device: torch.device, what: str) -> Tensor:
        """Check the point axis of a draw of ``shape``, advance ``counter`` by one and return the
        per-point keys of this call on ``device``."""
        shape = tuple(shape)
        if len(shape) == 0 or shape[0] != self.num_points:
            leading = "no leading axis" if len(shape) == 0 else f"leading size {shape[0]}"
            raise ValueError(
                f"{what}: PointStreams has {self.num_points} data points but the requested draw of "
                f"shape {shape} has {leading}; the leading axis must be the data-point axis of "
                f"size {self.num_points}"
            )
        counter = self.counter
        self.counter = counter + 1
        keys = self.keys.to(device)
        return _combine(keys, _word(counter, keys.device))


RandomSource: TypeAlias = torch.Generator | PointStreams
"""A source of randomness for every draw in vaeinfer: a ``torch.Generator`` or :class:`PointStreams`."""


# --- primitives -----------------------------------------------------------------------------------


def uniform(shape: tuple[int, ...], *, generator: RandomSource, like: Tensor) -> Tensor:
    """U(0, 1) draws of ``shape`` with the dtype and device of ``like``."""
    if isinstance(generator, PointStreams):
        _fraction_bits(like.dtype)
        keys = generator._begin_call(shape, like.device, "uniform")
        return _grid_uniform(_stream_keys(keys, 0), tuple(shape), like.dtype)
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)


def normal(loc: Tensor, scale: Tensor, *, generator: RandomSource) -> Tensor:
    """N(loc, scale^2) draws of the broadcast shape of ``loc`` and ``scale``."""
    shape = torch.broadcast_shapes(loc.shape, scale.shape)
    if isinstance(generator, PointStreams):
        _fraction_bits(loc.dtype)
        keys = generator._begin_call(shape, loc.device, "normal")
        eps = _grid_normal(_stream_keys(keys, 0), tuple(shape), loc.dtype)
        if loc.dtype == scale.dtype == eps.dtype:
            return eps.mul_(scale).add_(loc)  # loc + scale * eps, without two temporaries
        return loc + scale * eps
    eps = torch.randn(shape, generator=generator, dtype=loc.dtype, device=loc.device)
    return loc + scale * eps


def _stream_multinomial(probs: Tensor, num_samples: int, streams: PointStreams) -> Tensor:
    if probs.dim() < 2:
        raise ValueError(
            f"multinomial with PointStreams needs probs of shape (B, ..., C) with B = "
            f"{streams.num_points} data points, got shape {tuple(probs.shape)}"
        )
    num_samples = operator.index(num_samples)
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    num_categories = probs.shape[-1]
    weights = probs.to(torch.float64)
    if num_categories == 0 or not bool(
        ((weights >= 0).all(-1) & torch.isfinite(weights).all(-1) & (weights.sum(-1) > 0)).all()
    ):
        raise ValueError("multinomial: every row of probs must be finite, non-negative and sum to > 0")
    shape = (*probs.shape[:-1], num_samples)
    keys = streams._begin_call(shape, probs.device, "multinomial")
    u = _grid_uniform(_stream_keys(keys, 0), shape, torch.float64)
    # Zero-probability categories get the cumulative sum of the last positive one before them
    # (or -inf), so the first entry above u is always a positive category; rows end at exactly 1.
    cdf = torch.where(weights > 0, weights.cumsum(-1), -math.inf).cummax(-1).values
    cdf = (cdf / cdf[..., -1:]).contiguous()
    return torch.searchsorted(cdf, u, right=True).clamp_max(num_categories - 1)


def multinomial(probs: Tensor, num_samples: int, *, generator: RandomSource) -> Tensor:
    """``num_samples`` i.i.d. category indices per row of ``probs`` (shape ``(..., C)``)."""
    if isinstance(generator, PointStreams):
        return _stream_multinomial(probs, num_samples, generator)
    flat = probs.reshape(-1, probs.shape[-1])
    idx = torch.multinomial(flat, num_samples, replacement=True, generator=generator)
    return idx.reshape(*probs.shape[:-1], num_samples)


def _stream_gamma(concentration: Tensor, streams: PointStreams) -> Tensor:
    a = concentration
    _fraction_bits(a.dtype)
    if not bool(((a > 0) & torch.isfinite(a)).all()):
        raise ValueError("standard_gamma: concentrations must be finite and > 0")
    keys = streams._begin_call(a.shape, a.device, "standard_gamma")
    shape, dtype = tuple(a.shape), a.dtype
    boost = a < 1
    a1 = torch.where(boost, a + 1, a)
    d = (a1 - 1.0 / 3.0).reshape(-1)
    c = 1.0 / torch.sqrt(9.0 * d)
    per_point = math.prod(shape[1:])
    out = torch.empty_like(d)
    pending = None  # flat indices of the elements still to draw; None: all (the first attempt)
    for attempt in range(_MAX_GAMMA_ATTEMPTS):
        normal_keys, uniform_keys = _stream_keys(keys, 2 * attempt + 1), _stream_keys(keys, 2 * attempt + 2)
        if pending is None:  # every element: the words of the full grid, no index arithmetic
            x = _grid_normal(normal_keys, shape, dtype).reshape(-1)
            u = _grid_uniform(uniform_keys, shape, dtype).reshape(-1)
            dp, cp = d, c
        else:
            point, position = pending // per_point, pending % per_point
            x = _std_normal(dtype, _words_at(normal_keys, point, position, dtype))
            u = _unit_interval(dtype, _words_at(uniform_keys, point, position, dtype))
            dp, cp = d[pending], c[pending]
        t = 1 + cp * x
        v = t * t * t
        log_v = torch.log(v.clamp_min(torch.finfo(dtype).tiny))
        ok = (v > 0) & (torch.log(u) < 0.5 * (x * x) + dp - dp * v + dp * log_v)
        if pending is None:
            out = torch.where(ok, dp * v, out)
            pending = torch.nonzero(~ok).reshape(-1)
        else:
            out[pending[ok]] = (dp * v)[ok]
            pending = pending[~ok]
        if pending.numel() == 0:
            break
    else:
        raise RuntimeError("standard_gamma: rejection sampling did not terminate")
    out = out.reshape(shape)
    u = _grid_uniform(_stream_keys(keys, 0), shape, dtype)
    return torch.where(boost, out * torch.exp(torch.log(u) / a), out)


def standard_gamma(concentration: Tensor, *, generator: RandomSource) -> Tensor:
    """Gamma(concentration, 1) draws by Marsaglia & Tsang (2000), vectorised.

    For ``a < 1`` the boost ``Gamma(a) = Gamma(a + 1) * U^(1/a)`` is used. Each element is
    resampled until accepted; acceptance is above 95% so the loop ends after a few passes. With
    :class:`PointStreams` the passes use sub-streams of one call (``counter`` advances by 1).
    """
    if isinstance(generator, PointStreams):
        return _stream_gamma(concentration, generator)
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


def _draw_normal(d: Normal, shape: torch.Size, generator: RandomSource) -> Tensor:
    loc, scale = d.loc.expand(shape), d.scale.expand(shape)
    return normal(loc, scale, generator=generator)


def _draw_uniform(d: Uniform, shape: torch.Size, generator: RandomSource) -> Tensor:
    low, high = d.low.expand(shape), d.high.expand(shape)
    return low + (high - low) * uniform(tuple(shape), generator=generator, like=low)


def _draw_bernoulli(d: Bernoulli, shape: torch.Size, generator: RandomSource) -> Tensor:
    probs = d.probs.expand(shape)
    return uniform(tuple(shape), generator=generator, like=probs).lt_(probs)  # 1.0 / 0.0 in place


def _draw_beta(d: Beta, shape: torch.Size, generator: RandomSource) -> Tensor:
    a = d.concentration1.expand(shape)
    b = d.concentration0.expand(shape)
    ga = standard_gamma(a, generator=generator)
    gb = standard_gamma(b, generator=generator)
    # NOTE: the ratio can round to exactly 0 or 1 in float32; keep draws in the open interval.
    tiny = torch.finfo(a.dtype).eps
    return (ga / (ga + gb)).clamp(tiny, 1 - tiny)


def _draw_categorical(d: Categorical, shape: torch.Size, generator: RandomSource) -> Tensor:
    probs = d.probs.expand(*shape, d.probs.shape[-1])
    return multinomial(probs, 1, generator=generator)[..., 0]


def _draw_independent(d: Independent, shape: torch.Size, generator: RandomSource) -> Tensor:
    return draw(d.base_dist, generator=generator, sample_shape=shape[: len(shape) - len(d.base_dist.batch_shape)])


DRAWERS: dict[type, Callable[[Distribution, torch.Size, RandomSource], Tensor]] = {
    Normal: _draw_normal,
    Uniform: _draw_uniform,
    Bernoulli: _draw_bernoulli,
    Beta: _draw_beta,
    Categorical: _draw_categorical,
    Independent: _draw_independent,
}


def register_drawer(
    dist_type: type, fn: Callable[[Distribution, torch.Size, RandomSource], Tensor]
) -> None:
    """Teach :func:`draw` to sample ``dist_type``: ``fn(dist, shape, generator) -> Tensor``.

    ``shape`` is ``sample_shape + batch_shape + event_shape`` of the requested draw and
    ``generator`` a :data:`RandomSource`. To support :class:`PointStreams`, draw only through the
    primitives of this module, keep ``shape[0]`` as the leading axis of every primitive draw, and
    make a number of primitive calls that depends on the distribution type only, not on the data.
    """
    DRAWERS[dist_type] = fn


def draw(
    dist: Distribution,
    *,
    generator: RandomSource,
    sample_shape: tuple[int, ...] | torch.Size = (),
) -> Tensor:
    """Draw from ``dist`` with ``generator``; the shape is ``sample_shape + dist.shape``.

    With :class:`PointStreams` the leading axis of that shape is the data-point axis.
    """
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
