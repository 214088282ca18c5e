"""Bits for :class:`vaeinfer.random.PointStreams`: the counter-based hash and its conversion to numbers.

Private: the public API is :mod:`vaeinfer.random`. This module turns per-point 64-bit keys into
32-bit words (SplitMix64 keys, two keyed lowbias32 rounds per word) and words into uniforms and
normals, in place and in cache-sized blocks on the CPU. The tests check every function here bit
for bit against pure-Python references.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

# --- counter-based per-point streams: hashing --------------------------------------------------------------
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
