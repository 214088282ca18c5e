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

import functools
import hashlib
import math
import operator
import sys
from collections.abc import Callable, Iterator, Sequence
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


# --- counter-based per-point streams --------------------------------------------------------------
#
# Two levels of hashing. Keys are 64-bit and derived with SplitMix64 on int64 tensors, once per
# point and call (tensors of shape (B,), cheap). The per-element work is 32-bit: int32 tensors,
# updated in place, because 64-bit integer multiplication is not vectorised on CPUs without
# AVX-512 (AVX2 has no 64-bit vector multiply) and int32 halves the memory traffic of every pass.
# On the CPU the words are made and turned into numbers in cache-sized blocks (see _blocks).
#
# torch has no logical right shift (``>>`` on signed integers is arithmetic) and no unsigned
# 32-bit arithmetic, so words are int32 bit patterns: logical shifts are arithmetic shifts with the
# copied sign bits masked off, and additions and multiplications wrap mod 2**32 (two's complement,
# as the vector instructions and CUDA do; the tests check it bit for bit against Python integers).

_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1


def _i64(value: int) -> int:
    """The int64 (two's complement) number with the bit pattern of ``value mod 2**64``."""
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


def _i32(value: int) -> int:
    """The int32 (two's complement) number with the bit pattern of ``value mod 2**32``."""
    value &= _MASK32
    return value - (1 << 32) if value >> 31 else value


# SplitMix64 constants as int64 bit patterns (torch refuses Python ints >= 2**63 in tensors).
_GOLDEN = _i64(0x9E3779B97F4A7C15)
_MIX1 = _i64(0xBF58476D1CE4E5B9)
_MIX2 = _i64(0x94D049BB133111EB)
# The 32-bit golden-ratio Weyl increment: floor(2**32 / phi), odd, so (j + 1) * G32 visits every
# 32-bit value once in 2**32 steps.
_G32 = 0x9E3779B9
# lowbias32 (Chris Wellons, https://github.com/skeeto/hash-prospector): the 32-bit bijection
# x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16 (logical shifts),
# exact avalanche bias 0.1735, lower than the MurmurHash3 fmix32 finaliser. A word goes through
# it twice (four multiplications in all), see _keyed_hash_. (shift, multiplier or None) per round.
_LOWBIAS32 = ((16, _i32(0x7FEB352D)), (15, _i32(0x846CA68B)), (16, None))
_CACHED_OFFSETS_MAX = 1 << 20  # longest per-point Weyl offsets kept in the cache (4 MiB each)
_MAX_GAMMA_ATTEMPTS = 1000  # acceptance > 95% per attempt: never reached for valid input


def _srl(x: Tensor, shift: int) -> Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` on int64 is arithmetic)."""
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def _mix64(x: Tensor) -> Tensor:
    """SplitMix64 finaliser on int64 tensors: a bijection of 64-bit patterns (products wrap)."""
    x = (x ^ _srl(x, 30)) * _MIX1
    x = (x ^ _srl(x, 27)) * _MIX2
    return x ^ _srl(x, 31)


def _splitmix64(x: Tensor) -> Tensor:
    """The first output of SplitMix64 started at state ``x``."""
    return _mix64(x + _GOLDEN)


def _combine(key: Tensor, value: Tensor) -> Tensor:
    """A new key from ``key`` and the word ``value`` (hash chaining; broadcasts)."""
    return _splitmix64(key ^ _splitmix64(value))


def _word(value: int, device: torch.device) -> Tensor:
    """A 0-d int64 tensor holding ``value mod 2**64`` as a bit pattern."""
    return torch.tensor(_i64(value), dtype=torch.int64, device=device)


def _stream_keys(call_keys: Tensor, substream: int) -> Tensor:
    """Per-point 64-bit keys of sub-stream ``substream`` of one call; shape ``(B,)``."""
    return _combine(call_keys, _word(substream, call_keys.device))


def _to_int32(x: Tensor) -> Tensor:
    """The low 32 bits of the int64 tensor ``x`` as int32 bit patterns (exact, no overflowing cast)."""
    return (((x & _MASK32) ^ (1 << 31)) - (1 << 31)).to(torch.int32)


def _split_keys(keys: Tensor) -> tuple[Tensor, Tensor]:
    """The low and high 32-bit halves ``(k1, k2)`` of 64-bit keys, as int32 bit patterns."""
    return _to_int32(keys), (keys >> 32).to(torch.int32)


def _weyl(position: Tensor) -> Tensor:
    """``(position + 1) * G32 mod 2**32`` as int32 bit patterns, for int64 ``position``."""
    return _to_int32((position + 1) * _G32)  # the int64 product may wrap: its low 32 bits stay exact


@functools.lru_cache(maxsize=8)
def _cached_weyl_offsets(count: int, device: torch.device) -> Tensor:
    return _weyl(torch.arange(count, dtype=torch.int64, device=device))


def _weyl_offsets(count: int, device: torch.device) -> Tensor:
    """:func:`_weyl` of positions ``0 .. count - 1``, cached for the recent sizes up to
    ``_CACHED_OFFSETS_MAX``. Shared between calls: never modify the result in place."""
    if count <= _CACHED_OFFSETS_MAX:
        return _cached_weyl_offsets(count, device)
    return _weyl(torch.arange(count, dtype=torch.int64, device=device))


@functools.lru_cache(maxsize=64)
def _cpu_scalar(value: int | float, dtype: torch.dtype) -> Tensor:
    return torch.tensor(value, dtype=dtype)


def _scalar(value: int | float, like: Tensor) -> Tensor | int | float:
    """``value`` as an operand for ops on ``like``: on the CPU a cached 0-d tensor of its dtype,
    which saves about a microsecond per op over a Python number (wrapped anew on every call); that
    is a third of an op on a block of :func:`_blocks`."""
    return _cpu_scalar(value, like.dtype) if like.device.type == "cpu" else value


def _xorshift_(x: Tensor, shift: int, scratch: Tensor) -> Tensor:
    """``x ^= x >> shift`` (logical shift) on int32 words in place; ``scratch`` is overwritten."""
    torch.bitwise_right_shift(x, _scalar(shift, x), out=scratch)
    scratch.bitwise_and_(_scalar((1 << (32 - shift)) - 1, x))  # arithmetic -> logical shift
    return x.bitwise_xor_(scratch)


def _hash32_(x: Tensor, scratch: Tensor) -> Tensor:
    """lowbias32 of the int32 words ``x``, in place; ``scratch`` is overwritten (same shape)."""
    for shift, multiplier in _LOWBIAS32:
        _xorshift_(x, shift, scratch)
        if multiplier is not None:
            x.mul_(_scalar(multiplier, x))  # wraps mod 2**32
    return x


def _keyed_hash_(x: Tensor, k2: Tensor, scratch: Tensor) -> Tensor:
    """``hash32(hash32(x) ^ k2)`` in place (``k2`` broadcasts against ``x``).

    Why the second, keyed round: the first-round inputs ``k1 + (j + 1) * G32`` of a stream run
    along one Weyl sequence mod 2**32, and since G32 is odd, for any two streams there is a shift
    ``d`` with ``k1' = k1 + d * G32``: word ``j`` of one stream would equal word ``j + d`` of the
    other. For ``|d|`` below the number of words drawn the streams would be shifted copies of each
    other, which is not rare (about ``B**2 * n / 2**32`` of the pairs among ``B`` points drawing
    ``n`` words each). XOR-ing the other 32 key bits ``k2`` and hashing again makes those
    overlapping stretches hash different inputs, so they are unrelated.
    """
    return _keyed_hash_mixed_(x, _mix_k2(k2), scratch)


def _mix_k2(k2: Tensor) -> Tensor:
    """``k2 ^ (k2 >> 16)`` (logical shift): the key as :func:`_keyed_hash_mixed_` takes it."""
    return k2 ^ ((k2 >> 16) & 0xFFFF)


def _keyed_hash_mixed_(x: Tensor, mixed_k2: Tensor, scratch: Tensor) -> Tensor:
    """:func:`_keyed_hash_` with ``mixed_k2 = _mix_k2(k2)``, in six passes fewer.

    lowbias32 ends and starts with ``L(x) = x ^ (x >> 16)``, which is linear (over XOR) and its own
    inverse on 32 bits, so the middle of ``hash32(hash32(x) ^ k2)`` is ``L(L(h) ^ k2) = h ^ L(k2)``:
    both 16-bit xorshifts are skipped and ``k2`` enters as ``L(k2)``, computed once per point.
    """
    (first, m1), (middle, m2), (last, _) = _LOWBIAS32  # first == last == 16
    _xorshift_(x, first, scratch)
    x.mul_(_scalar(m1, x))
    _xorshift_(x, middle, scratch)
    x.mul_(_scalar(m2, x))
    x.bitwise_xor_(mixed_k2)  # L(L(h) ^ k2) = h ^ L(k2)
    x.mul_(_scalar(m1, x))
    _xorshift_(x, middle, scratch)
    x.mul_(_scalar(m2, x))
    return _xorshift_(x, last, scratch)


_BLOCK = 1 << 15  # words per block on the CPU, see _blocks


def _blocks(num_points: int, count: int, granule: int, device: torch.device) -> Iterator[tuple[slice, slice]]:
    """``(rows, columns)`` blocks covering a ``(num_points, count)`` grid of words, each contiguous
    in memory and with a multiple of ``granule`` columns.

    On the CPU a block holds at most ``_BLOCK`` words (whole rows, or part of one row). torch runs
    ops this small on one thread (its parallel grain is 32768 elements), and the block's words and
    scratch stay in the core's cache through the ~30 passes of hashing and conversion. So a draw
    opens no parallel region of its own, which matters on an oversubscribed machine: there every
    parallel region waits until a busy core runs its second thread, and the ~30 whole-tensor ops of
    a draw of 10**6 numbers then took over 200 ms instead of about 1. Other devices get one block.
    """
    if device.type != "cpu" or num_points * count <= _BLOCK:
        yield slice(None), slice(None)
    elif count <= _BLOCK:
        rows = _BLOCK // count
        for start in range(0, num_points, rows):
            yield slice(start, start + rows), slice(None)
    else:
        width = _BLOCK - _BLOCK % granule
        for row in range(num_points):
            for start in range(0, count, width):
                yield slice(row, row + 1), slice(start, start + width)


def _hashed_blocks(keys: Tensor, words: Tensor, scratch: Tensor, granule: int) -> Iterator[tuple[slice, slice]]:
    """Fill ``words`` (``(B, count)`` int32) with words ``0 .. count - 1`` of the sub-streams with
    64-bit keys ``keys`` (``(B,)``), block by block (:func:`_blocks`), yielding each block once it
    is filled. Word ``j`` of point ``b`` is ``hash32(hash32(k1[b] + (j + 1) * G32) ^ k2[b])`` mod
    2**32; ``scratch`` (same shape) is overwritten."""
    k1, k2 = _split_keys(keys)
    k1, mixed_k2 = k1[:, None], _mix_k2(k2)[:, None]
    offsets = _weyl_offsets(words.shape[1], words.device)
    for rows, cols in _blocks(words.shape[0], words.shape[1], granule, words.device):
        block = words[rows, cols]
        torch.add(offsets[cols], k1[rows], out=block)
        _keyed_hash_mixed_(block, mixed_k2[rows], scratch[rows, cols])
        yield rows, cols


def _stream_words(keys: Tensor, count: int) -> Tensor:
    """Words ``0 .. count - 1`` of the sub-streams with 64-bit keys ``keys``: int32 ``(B, count)``."""
    words = torch.empty((keys.shape[0], count), dtype=torch.int32, device=keys.device)
    for _ in _hashed_blocks(keys, words, torch.empty_like(words), 1):
        pass
    return words


def _stream_words_at(keys: Tensor, point: Tensor, position: Tensor) -> Tensor:
    """The words of :func:`_stream_words` at ``(point[i], position[i])`` only (int64 indices)."""
    k1, k2 = _split_keys(keys)
    words = _weyl(position).add_(k1[point])
    return _keyed_hash_mixed_(words, _mix_k2(k2)[point], torch.empty_like(words))


def _fraction_bits(dtype: torch.dtype) -> int:
    if not dtype.is_floating_point:
        raise TypeError(f"uniform and normal draws need a floating-point dtype, not {dtype}")
    return round(-math.log2(torch.finfo(dtype).eps))


def _words_per_element(dtype: torch.dtype) -> int:
    """2 for float64 (52-bit uniforms from two words), else 1 (at most 23 bits from one word)."""
    return 2 if _fraction_bits(dtype) > 23 else 1


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype draws of ``dtype`` are computed in: float64, or float32 (one word per element)."""
    return torch.float64 if _words_per_element(dtype) == 2 else torch.float32


def _odd_top_bits_(words: Tensor, bits: int) -> Tensor:
    """``2k + 1`` with ``k`` the top ``bits`` bits of each int32 word, in place (``bits`` < 31)."""
    torch.bitwise_right_shift(words, _scalar(31 - bits, words), out=words)  # top bits + 1 bits, sign-extended
    return words.bitwise_and_(_scalar((1 << (bits + 1)) - 1, words)).bitwise_or_(_scalar(1, words))


def _pair64_(pairs: Tensor) -> Tensor:
    """The 64-bit words ``w[2e] + 2**32 * w[2e + 1]`` (word ``2e`` the low half) of int32 word pairs
    of shape ``(..., 2)``, as int64 of shape ``(...)``; may share memory with ``pairs``."""
    if sys.byteorder == "little" and pairs.is_contiguous():
        return pairs.view(torch.int64)[..., 0]  # the same bytes: no arithmetic at all
    low, high = pairs[..., 0].to(torch.int64), pairs[..., 1].to(torch.int64)
    return (high << 32) | (low & _MASK32)


def _fill_uniform(words: Tensor, out: Tensor, bits: int) -> Tensor:
    """Uniforms strictly inside (0, 1) of the elements' words (overwritten), written into ``out``.

    ``u = (2k + 1) / 2**(bits + 1)`` with ``k`` the top ``bits`` bits of the element's word
    (``out`` float32, ``bits`` <= 23) or, for ``out`` float64, of the 64-bit word of its pair
    (:func:`_pair64_`; ``words`` of shape ``out.shape + (2,)``). With ``bits`` the fraction bits of
    the draw's dtype, ``u`` is exactly representable in it: never 0 or 1.
    """
    if out.dtype == torch.float64:
        word = _pair64_(words)
        torch.bitwise_right_shift(word, _scalar(63 - bits, word), out=word)  # top bits + 1, sign-extended
        odd = word.bitwise_and_(_scalar((1 << (bits + 1)) - 1, word)).bitwise_or_(_scalar(1, word))  # 2k + 1 < 2**53
    else:
        odd = _odd_top_bits_(words, bits)  # 2k + 1 < 2**24
    # Exact: odd fits the float, the scale is a power of two. (Not torch.mul(odd, scale, out=out):
    # an integer tensor times a Python float is computed in the default dtype.)
    return out.copy_(odd).mul_(_scalar(2.0 ** -(bits + 1), out))


# Standard normals are by inverse CDF, one per uniform: float64 normals are ``ndtri(u)`` of the
# 52-bit uniform (|z| < 8.3); float32 normals are ``sqrt(2) * erfinv(2u - 1)`` of the 23-bit
# uniform ``u = (2k + 1) / 2**24``, in float32 (``2u - 1`` is exact). On the CPU ``erfinv`` is
# several times faster than ``ndtri`` (float32 or float64) and, over all 2**23 possible inputs,
# within 1.2e-7 (relative) of the exact quantile, strictly increasing and odd; the tails end at
# |z| = 5.29 (u = 2**-24), as far as a float32 uniform goes.


def _fill_ndtri(words: Tensor, out: Tensor) -> Tensor:
    """float64 standard normals of the elements' word pairs (overwritten), written into ``out``."""
    return torch.special.ndtri(_fill_uniform(words, out, 52), out=out)


def _fill_centred(words: Tensor, out: Tensor) -> Tensor:
    """``2u - 1`` (exact) of the 23-bit uniforms of the elements' words (overwritten), written
    into the float32 ``out``: the argument of ``erfinv`` for float32 normals."""
    odd = _odd_top_bits_(words, 23).sub_(_scalar(1 << 23, words))  # 2k + 1 - 2**23
    return out.copy_(odd).mul_(_scalar(2.0**-23, out))


def _erfinv_normal_(centred: Tensor) -> Tensor:
    """``sqrt(2) * erfinv(centred)`` in place. Run once on a whole draw, not per block: torch
    runs ``erfinv`` on several threads whatever the size."""
    return centred.erfinv_().mul_(math.sqrt(2.0))


def _grid_draw(
    keys: Tensor, shape: tuple[int, ...], dtype: torch.dtype, fill: Callable[[Tensor, Tensor], Tensor]
) -> Tensor:
    """A draw of ``shape`` (leading axis: points) from the sub-streams ``keys``, in the work dtype
    of ``dtype``: element ``e`` (its flat position within its point) is ``fill(words, out)`` of
    word ``e`` or, for float64, of words ``2e`` and ``2e + 1``. Filled block by block, each block
    into the memory of its own hash scratch, so a draw allocates just twice its size."""
    per_element = _words_per_element(dtype)
    out = torch.empty((shape[0], math.prod(shape[1:])), dtype=_work_dtype(dtype), device=keys.device)
    scratch = out.view(torch.int32)  # (B, per-point words): the hash scratch is the output's memory
    words = torch.empty_like(scratch)
    for rows, cols in _hashed_blocks(keys, words, scratch, per_element):
        block = words[rows, cols]
        if per_element == 2:
            block = block.view(block.shape[0], -1, 2)
            if cols.start is not None:
                cols = slice(cols.start // 2, cols.stop // 2)
        fill(block, out[rows, cols])
    return out.view(shape)


def _grid_uniform(keys: Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    bits = _fraction_bits(dtype)
    return _grid_draw(keys, shape, dtype, lambda words, out: _fill_uniform(words, out, bits)).to(dtype)


def _grid_normal(keys: Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    if _words_per_element(dtype) == 2:
        return _grid_draw(keys, shape, dtype, _fill_ndtri)
    return _erfinv_normal_(_grid_draw(keys, shape, dtype, _fill_centred)).to(dtype)


def _words_at(keys: Tensor, point: Tensor, position: Tensor, dtype: torch.dtype) -> Tensor:
    """The words :func:`_grid_draw` uses for the elements ``(point[i], position[i])`` only:
    shape ``(N,)``, or ``(N, 2)`` for float64."""
    if _words_per_element(dtype) == 1:
        return _stream_words_at(keys, point, position)
    positions = 2 * position[:, None] + torch.arange(2, dtype=torch.int64, device=position.device)
    return _stream_words_at(keys, point[:, None].expand_as(positions), positions)


def _unit_interval(dtype: torch.dtype, words: Tensor) -> Tensor:
    """The uniforms in ``dtype`` of elements with ``words`` (as :func:`_words_at`; overwritten)."""
    shape = words.shape[:-1] if _words_per_element(dtype) == 2 else words.shape
    out = torch.empty(shape, dtype=_work_dtype(dtype), device=words.device)
    return _fill_uniform(words, out, _fraction_bits(dtype)).to(dtype)


def _std_normal(dtype: torch.dtype, words: Tensor) -> Tensor:
    """The standard normals in ``dtype`` of elements with ``words`` (as :func:`_words_at`; overwritten)."""
    shape = words.shape[:-1] if _words_per_element(dtype) == 2 else words.shape
    out = torch.empty(shape, dtype=_work_dtype(dtype), device=words.device)
    if _words_per_element(dtype) == 2:
        return _fill_ndtri(words, out)
    return _erfinv_normal_(_fill_centred(words, out)).to(dtype)


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


# --- micro-benchmark: python -m vaeinfer.random [--numel N] [--threads T] [--repeats R] -----------


def _benchmark(numel: int = 10**6, threads: int = 2, repeats: int = 20, points: int = 1000) -> None:
    """Print the time of each primitive drawing ``numel`` numbers with :class:`PointStreams` and
    with a ``torch.Generator``: best and median of ``repeats`` runs in ms, the two sources taking
    turns, after one untimed round of every draw (which also settles the memory allocator)."""
    import statistics
    import time

    torch.set_num_threads(threads)
    per_point = max(numel // points, 1)
    shape = (points, per_point)
    setup = make_generator(0)
    draws: list[tuple[str, torch.dtype, Callable[[RandomSource], Tensor]]] = []
    for dtype in (torch.float32, torch.float64):
        like = torch.zeros((), dtype=dtype)
        loc, scale = torch.zeros(shape, dtype=dtype), torch.ones((), dtype=dtype)
        probs = torch.rand((points, 10), generator=setup, dtype=dtype) + 0.01
        concentration = torch.rand(shape, generator=setup, dtype=dtype) * 4 + 0.2  # both sides of 1
        draws += [
            ("uniform", dtype, lambda src, like=like: uniform(shape, generator=src, like=like)),
            ("normal", dtype, lambda src, loc=loc, scale=scale: normal(loc, scale, generator=src)),
            ("multinomial", dtype, lambda src, probs=probs: multinomial(probs, per_point, generator=src)),
            ("gamma", dtype, lambda src, a=concentration: standard_gamma(a, generator=src)),
        ]
    sources: dict[str, RandomSource] = {
        "streams": PointStreams.from_seed(0, range(points)),
        "generator": make_generator(0),
    }
    for _, _, fn in draws:
        for source in sources.values():
            fn(source)
    print(f"{points} points x {per_point} = {points * per_point} numbers per draw, "
          f"{torch.get_num_threads()} threads, {repeats} runs each: best / median ms")
    print(f"{'draw':<12} {'dtype':<8} {'PointStreams':>17} {'torch.Generator':>17} {'ratio':>6}")
    for name, dtype, fn in draws:
        runs: dict[str, list[float]] = {label: [] for label in sources}
        for _ in range(repeats):
            for label, source in sources.items():
                start = time.perf_counter()
                fn(source)
                runs[label].append(1e3 * (time.perf_counter() - start))
        s_best, s_med = min(runs["streams"]), statistics.median(runs["streams"])
        g_best, g_med = min(runs["generator"]), statistics.median(runs["generator"])
        print(f"{name:<12} {str(dtype).removeprefix('torch.'):<8} {s_best:8.2f} / {s_med:6.2f} "
              f"{g_best:8.2f} / {g_med:6.2f} {s_best / g_best:6.2f}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Time PointStreams against torch.Generator draws.")
    parser.add_argument("--numel", type=int, default=10**6, help="numbers per draw (default 1e6)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per draw and source (default 20)")
    args = parser.parse_args()
    _benchmark(args.numel, args.threads, args.repeats)
