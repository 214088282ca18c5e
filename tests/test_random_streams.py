"""Counter-based per-point random streams (vaeinfer.random.PointStreams).

Bit-exactness against a pure-Python reference of the hash, batch invariance (B points together
give, bit for bit, what each point gives alone), the counter contract, the distributions of the
draws (tolerances from Monte Carlo standard errors), and that the torch.Generator path is unchanged.
"""

import math

import pytest
import torch
from scipy import stats
from torch.distributions import Bernoulli, Beta, Categorical, Independent, Normal, Uniform

from vaeinfer import _stream_bits as sbits
from vaeinfer import random as vrandom
from vaeinfer.random import PointStreams

F64 = torch.float64

# --- pure-Python reference (integers mod 2**64 and 2**32) -------------------------------------------

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
GOLDEN = 0x9E3779B97F4A7C15
G32 = 0x9E3779B9


def ref_mix(z: int) -> int:
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def ref_splitmix(x: int) -> int:
    return ref_mix((x + GOLDEN) & M64)


def ref_combine(key: int, value: int) -> int:
    return ref_splitmix(key ^ ref_splitmix(value & M64))


def ref_key(seed: int, point_id: int) -> int:
    return ref_combine(ref_splitmix(seed & M64), point_id & M64)


def ref_lowbias32(x: int) -> int:
    """lowbias32 of github.com/skeeto/hash-prospector, on Python integers."""
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    return x ^ (x >> 16)


def ref_lowbias32_inverse(x: int) -> int:
    """The published inverse of lowbias32 (a check that the constants above are the published ones)."""
    x ^= x >> 16
    x = (x * 0x43021123) & M32
    x ^= (x >> 15) ^ (x >> 30)
    x = (x * 0x1D69E2A5) & M32
    return x ^ (x >> 16)


def ref_substream_key(key: int, counter: int, substream: int) -> int:
    return ref_combine(ref_combine(key, counter), substream)


def ref_stream_word(k: int, j: int) -> int:
    """Word ``j`` (unsigned 32-bit) of the sub-stream with 64-bit key ``k``."""
    k1, k2 = k & M32, (k & M64) >> 32
    return ref_lowbias32(ref_lowbias32(k1 + (j + 1) * G32) ^ k2)


def ref_uniform(key: int, counter: int, substream: int, e: int, bits: int) -> float:
    """Element ``e`` of a uniform draw with ``bits`` fraction bits (52: two words per element)."""
    k = ref_substream_key(key, counter, substream)
    if bits == 52:
        top = ((ref_stream_word(k, 2 * e + 1) << 32) | ref_stream_word(k, 2 * e)) >> 12  # word 2e: low half
    else:
        top = ref_stream_word(k, e) >> (32 - bits)
    return (2 * top + 1) / 2 ** (bits + 1)


def unsigned(t: torch.Tensor) -> list[int]:
    return [v & M64 for v in t.tolist()]


def unsigned32(t: torch.Tensor) -> list[int]:
    return [v & M32 for v in t.reshape(-1).tolist()]


def signed(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def signed32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def _random_words(n: int, seed: int) -> list[int]:
    """``n`` random 64-bit patterns as signed integers (about half negative)."""
    g = torch.Generator().manual_seed(seed)
    halves = torch.randint(0, 1 << 32, (n, 2), generator=g, dtype=torch.int64)
    return ((halves[:, 0] << 32) | halves[:, 1]).tolist()


# --- the hashes -------------------------------------------------------------------------------------


def test_mix_equals_the_python_reference_bit_for_bit():
    special = [0, 1, -1, 2, -2, 2**63 - 1, -(2**63), 2**62, -(2**62) - 12345, 0x7F, GOLDEN - 2**64]
    random_words = _random_words(2000, 0)
    assert sum(v < 0 for v in random_words) > 900
    inputs = torch.tensor([signed(v) for v in special] + random_words, dtype=torch.int64)
    assert unsigned(sbits._mix64(inputs)) == [ref_mix(v & M64) for v in inputs.tolist()]
    assert unsigned(sbits._splitmix64(inputs)) == [ref_splitmix(v & M64) for v in inputs.tolist()]


def test_splitmix64_known_answers():
    # Published SplitMix64 outputs: state 0 -> 0xE220A8397B1DCDAF; state 1234567 -> the sequence below.
    assert unsigned(sbits._splitmix64(torch.tensor([0])))[0] == 0xE220A8397B1DCDAF
    states = torch.tensor([signed(1234567 + e * GOLDEN) for e in range(3)])
    assert unsigned(sbits._splitmix64(states)) == [6457827717110365317, 3203168211198807973, 9817491932198370423]
    assert [ref_mix((1234567 + (e + 1) * GOLDEN) & M64) for e in range(3)] == unsigned(sbits._splitmix64(states))


def test_hash32_equals_the_python_reference_bit_for_bit():
    special = [0, 1, -1, 2, 2**31 - 1, -(2**31), 0xFFFF, -0x10000, 0x8000, signed32(G32), 12345, -12345]
    random_words = [signed32(v) for v in _random_words(4000, 1)]
    assert sum(v < 0 for v in random_words) > 1800  # negative bit patterns; the products wrap mod 2**32
    values = special + random_words
    x = torch.tensor(values, dtype=torch.int32)
    assert unsigned32(sbits._hash32_(x.clone(), torch.empty_like(x))) == [ref_lowbias32(v) for v in values]
    assert all(ref_lowbias32_inverse(ref_lowbias32(v)) == v & M32 for v in values)
    k2 = torch.tensor(list(reversed(values)), dtype=torch.int32)
    keyed = sbits._keyed_hash_(x.clone(), k2, torch.empty_like(x))
    pairs = zip(values, reversed(values), strict=True)
    assert unsigned32(keyed) == [ref_lowbias32(ref_lowbias32(v) ^ (w & M32)) for v, w in pairs]
    # (e + 1) * G32 mod 2**32, also past 2**31 and 2**32 positions (the stream has period 2**32 words)
    positions = [0, 1, 2, 1000, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, 2**32 + 5, 3 * 2**32 + 7]
    offsets = sbits._weyl(torch.tensor(positions, dtype=torch.int64))
    assert offsets.dtype == torch.int32
    assert unsigned32(offsets) == [((e + 1) * G32) & M32 for e in positions]


def test_stream_words_equal_the_python_reference():
    keys = [0, 1, -1, 2**32 - 1, 2**32, -(2**63), 2**63 - 1] + _random_words(9, 2)
    keys_t = torch.tensor(keys, dtype=torch.int64)
    k1, k2 = sbits._split_keys(keys_t)
    assert k1.dtype == k2.dtype == torch.int32
    assert unsigned32(k1) == [k & M32 for k in keys] and unsigned32(k2) == [(k & M64) >> 32 for k in keys]
    count = 37
    words = sbits._stream_words(keys_t, count)
    assert words.shape == (len(keys), count) and words.dtype == torch.int32
    assert [unsigned32(row) for row in words] == [[ref_stream_word(k & M64, j) for j in range(count)] for k in keys]
    point = torch.tensor([0, 3, 5, 15, 7, 2, 2])
    position = torch.tensor([0, 36, 2**31, 2**32 - 1, 2**32 + 3, 5, 2**40 + 17])
    at = sbits._stream_words_at(keys_t, point, position)
    indices = zip(point.tolist(), position.tolist(), strict=True)
    assert unsigned32(at) == [ref_stream_word(keys[b] & M64, j) for b, j in indices]
    assert at[0] == words[0, 0] and at[1] == words[3, 36] and at[5] == words[2, 5]


def test_keys_and_draws_equal_the_python_reference():
    for seed in [0, 1, -1, 2**63 + 5, 123456789123456789, -(2**70) + 3]:
        ids = [0, 1, 2, 7, -1, -(2**63), 2**64 - 1, 10**12]
        streams = PointStreams.from_seed(seed, ids)
        keys = [ref_key(seed, p) for p in ids]
        assert unsigned(streams.keys) == keys
        u64 = vrandom.uniform((len(ids), 3), generator=streams, like=torch.zeros((), dtype=F64))
        u32 = vrandom.uniform((len(ids), 2, 2), generator=streams, like=torch.zeros(()))
        assert u64.tolist() == [[ref_uniform(k, 0, 0, e, 52) for e in range(3)] for k in keys]
        assert u32.reshape(len(ids), 4).tolist() == [[ref_uniform(k, 1, 0, e, 23) for e in range(4)] for k in keys]
        z = vrandom.normal(torch.zeros(len(ids), 2, dtype=F64), torch.ones((), dtype=F64), generator=streams)
        expected = torch.special.ndtri(
            torch.tensor([[ref_uniform(k, 2, 0, e, 52) for e in range(2)] for k in keys], dtype=F64)
        )
        assert torch.equal(z, expected)
        z32 = vrandom.normal(torch.zeros(len(ids), 3), torch.ones(()), generator=streams)
        v = torch.tensor([[2 * ref_uniform(k, 3, 0, e, 23) - 1 for e in range(3)] for k in keys])  # exact
        assert torch.equal(z32, torch.erfinv(v) * math.sqrt(2))
        for counter, dtype, bits in [(4, torch.float16, 10), (5, torch.bfloat16, 7)]:
            u = vrandom.uniform((len(ids), 2), generator=streams, like=torch.zeros((), dtype=dtype))
            assert u.dtype == dtype
            assert u.tolist() == [[ref_uniform(k, counter, 0, e, bits) for e in range(2)] for k in keys]
        # four equally likely categories: the category of u is floor(4u) (u is never a multiple of 1/4)
        idx = vrandom.multinomial(torch.ones(len(ids), 4), 5, generator=streams)
        assert idx.tolist() == [[math.floor(4 * ref_uniform(k, 6, 0, e, 52)) for e in range(5)] for k in keys]
        assert streams.counter == 7
    # tensor point ids give the same keys as a list
    assert torch.equal(PointStreams.from_seed(5, torch.tensor([3, -4])).keys, PointStreams.from_seed(5, [3, -4]).keys)


@pytest.mark.parametrize("default", [torch.float64, torch.bfloat16])
def test_draws_do_not_depend_on_the_default_dtype(default):
    like32, like64 = torch.zeros(()), torch.zeros((), dtype=F64)
    draws = [
        lambda s: vrandom.uniform((3, 50), generator=s, like=like32),
        lambda s: vrandom.uniform((3, 50), generator=s, like=like64),
        lambda s: vrandom.normal(like32.expand(3, 50), torch.ones(()), generator=s),
        lambda s: vrandom.normal(like64.expand(3, 50), torch.ones((), dtype=F64), generator=s),
    ]
    expected = [draw(PointStreams.from_seed(8, range(3))) for draw in draws]
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(default)
    except (TypeError, RuntimeError):
        pytest.skip(f"torch does not accept {default} as the default dtype")
    try:
        got = [draw(PointStreams.from_seed(8, range(3))) for draw in draws]
    finally:
        torch.set_default_dtype(previous)
    assert all(torch.equal(x, y) for x, y in zip(got, expected, strict=True))


@pytest.mark.parametrize(
    "dtype,bits", [(torch.float64, 52), (torch.float32, 23), (torch.float16, 10), (torch.bfloat16, 7)]
)
def test_uniforms_are_strictly_inside_the_unit_interval(dtype, bits):
    # all-0 and all-1 top bits, and the two words around the middle (float64: (low, high) pairs)
    if dtype == torch.float64:
        extremes = torch.tensor([[0, 0], [-1, -1], [-1, 2**31 - 1], [0, -(2**31)]], dtype=torch.int32)
    else:
        extremes = torch.tensor([0, -1, 2**31 - 1, -(2**31)], dtype=torch.int32)
    u = sbits._unit_interval(dtype, extremes.clone())
    assert u.dtype == dtype
    half_cell = 2.0 ** -(bits + 1)
    assert u.tolist() == [half_cell, 1 - half_cell, 0.5 - half_cell, 0.5 + half_cell]
    z = sbits._std_normal(dtype, extremes.clone())
    assert z.dtype == dtype
    assert torch.isfinite(z).all() and z[0] == -z[1] and z[2] == -z[3] and z[0] < z[2] < 0


def test_word_pairs_make_64_bit_words():
    pairs = torch.tensor([signed32(v) for v in _random_words(64, 5)], dtype=torch.int32).reshape(16, 2, 2)
    expected = [(h & M32) << 32 | (lo & M32) for lo, h in pairs.reshape(-1, 2).tolist()]
    assert unsigned(sbits._pair64_(pairs.clone()).reshape(-1)) == expected  # a view (little-endian hosts)
    strided = torch.stack([pairs[..., 0], pairs[..., 1]]).movedim(0, -1)  # not contiguous: arithmetic
    assert not strided.is_contiguous()
    assert unsigned(sbits._pair64_(strided).reshape(-1)) == expected


def test_float32_normals_are_accurate_for_every_possible_word():
    # A float32 normal depends on the top 23 bits of its word only: check all 2**23 values against
    # the float64 quantile (ndtri) of the same uniform (2k + 1) / 2**24.
    k = torch.arange(1 << 23, dtype=torch.int64)
    z = sbits._std_normal(torch.float32, sbits._to_int32(k << 9))
    exact = torch.special.ndtri((2 * k + 1).to(F64) * 2.0**-24)
    assert float(((z.double() - exact).abs() / exact.abs()).max()) < 2e-7  # about one float32 ulp
    assert bool((z[1:] > z[:-1]).all())  # strictly increasing in the uniform
    assert torch.equal(z, -z.flip(0))  # u and 1 - u give z and -z
    assert 5.29 < float(z[-1]) < 5.30  # the float32 tail (u = 1 - 2**-24)


def test_draws_equal_the_python_reference_across_cpu_blocks():
    # On the CPU the words are made in blocks of _BLOCK words: whole rows (many points per block)
    # or parts of one row (float64: whole word pairs). Check elements on both sides of the seams.
    block = sbits._BLOCK
    long = (2, block // 2 + 1000)  # float32: one row per block; float64: two blocks per row
    longer = (2, block + 1000)  # float32: two blocks per row
    many = (block // 3 + 7, 3)  # block // 3 points per block (float64: block // 6)
    for seed, shape, dtype, bits, elements in [
        (3, long, F64, 52, [0, block // 2 - 1, block // 2, long[1] - 1]),
        (4, longer, torch.float32, 23, [0, block - 1, block, longer[1] - 1]),
        (5, many, torch.float32, 23, [0, 2]),
        (6, many, F64, 52, [0, 2]),
    ]:
        streams = PointStreams.from_seed(seed, range(shape[0]))
        u = vrandom.uniform(shape, generator=streams, like=torch.zeros((), dtype=dtype))
        points = [0, 1] if shape[0] == 2 else [0, block // 6 - 1, block // 6, block // 3 - 1, block // 3, shape[0] - 1]
        for p in points:
            key = ref_key(seed, p)
            assert [u[p, e].item() for e in elements] == [ref_uniform(key, 0, 0, e, bits) for e in elements]
    streams = PointStreams.from_seed(7, range(2))
    z = vrandom.normal(torch.zeros(longer), torch.ones(()), generator=streams)
    seam = [block - 2, block - 1, block, block + 1]
    v = torch.tensor([[2 * ref_uniform(ref_key(7, p), 0, 0, e, 23) - 1 for e in seam] for p in range(2)])
    assert torch.equal(z[:, seam], torch.erfinv(v) * math.sqrt(2))


def test_empty_draws():
    s = PointStreams.from_seed(0, range(3))
    for dtype in (torch.float32, F64):
        zero = torch.zeros((), dtype=dtype)
        assert vrandom.uniform((3, 0), generator=s, like=zero).shape == (3, 0)
        assert vrandom.normal(zero.expand(3, 0, 2), zero, generator=s).shape == (3, 0, 2)
        assert vrandom.standard_gamma(torch.ones(3, 0, dtype=dtype), generator=s).shape == (3, 0)
    assert vrandom.multinomial(torch.ones(3, 4), 0, generator=s).shape == (3, 0)
    assert PointStreams.from_seed(0, []).num_points == 0
    assert vrandom.uniform((0, 5), generator=PointStreams.from_seed(0, []), like=torch.zeros(())).shape == (0, 5)
    assert s.counter == 7


def test_words_do_not_depend_on_how_many_are_drawn():
    # Cached (short) and uncached (long) Weyl offsets give the same words; the cache stays bounded.
    keys = torch.tensor(_random_words(2, 3), dtype=torch.int64)
    long = sbits._stream_words(keys, sbits._CACHED_OFFSETS_MAX + 3)
    assert torch.equal(long[:, :100], sbits._stream_words(keys, 100))
    assert torch.equal(long[:, :100], sbits._stream_words(keys, 100))  # the cached offsets are intact
    assert sbits._cached_weyl_offsets.cache_info().maxsize is not None


def test_streams_on_one_weyl_sequence_are_not_shifted_copies():
    # k1' = k1 + d * G32: the first-round inputs of stream' are those of stream shifted by d words.
    # With the same high half k2 the streams are shifted copies; the keyed second round separates
    # them as soon as k2 differs, even in a single bit.
    key = _random_words(1, 4)[0] & M64
    k1, k2 = key & M32, key >> 32
    d, n = 7, 100_000
    k1_shifted = (k1 + d * G32) & M32
    others = [k2 ^ (1 << b) for b in (0, 13, 16, 31)] + [k2 ^ 0x5A5A5A5A]
    keys = [key, (k2 << 32) | k1_shifted] + [(h << 32) | k1_shifted for h in others]
    words = sbits._stream_words(torch.tensor([signed(k) for k in keys], dtype=torch.int64), n + d)
    assert torch.equal(words[1, :n], words[0, d:])
    u = sbits._unit_interval(torch.float32, words.clone())  # one word per uniform
    for i in range(2, len(keys)):
        assert int((words[i, :n] == words[0, d:]).sum()) <= 1
        assert abs(_corr(u[i, :n], u[0, d:])) < 5 / math.sqrt(n)
        assert abs(_corr(u[i], u[0])) < 5 / math.sqrt(n)


# --- batch invariance ----------------------------------------------------------------------------------

B = 5


def _parameters():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(B, 3, 6, generator=g, dtype=F64)
    logits[:, :, 1] = -math.inf  # a category that must never be chosen
    return {
        "loc": torch.randn(B, 7, generator=g, dtype=F64),
        "scale": torch.rand(B, 1, generator=g, dtype=F64) + 0.5,
        "probs": torch.softmax(logits, -1),
        # per element concentrations on both sides of 1 (a < 1 uses the boost)
        "a": torch.rand(B, 37, generator=g, dtype=F64) * 3 + 0.05,
        "a32": (torch.rand(B, 2, 9, generator=g) * 0.9 + 0.05),
        "beta_a": torch.rand(B, 11, generator=g) * 4 + 0.2,
        "beta_b": torch.rand(B, 11, generator=g) * 4 + 0.2,
        "p": torch.rand(B, 13, generator=g, dtype=F64),
        "low": torch.randn(B, 3, generator=g, dtype=F64),
    }


def _sequence(streams: PointStreams, prm: dict[str, torch.Tensor], sl: slice) -> list[torch.Tensor]:
    """A fixed sequence of draws for the points ``sl`` of the parameters."""
    p = {k: v[sl] for k, v in prm.items()}
    n, dev = p["loc"].shape[0], p["loc"].device
    out = [
        vrandom.uniform((n, 3, 5), generator=streams, like=p["loc"]),
        vrandom.uniform((n, 9), generator=streams, like=torch.zeros((), dtype=torch.float32, device=dev)),
        vrandom.normal(p["loc"], p["scale"], generator=streams),
        vrandom.normal(p["loc"].float(), torch.ones((), device=dev), generator=streams),
        vrandom.multinomial(p["probs"], 4, generator=streams),
        vrandom.standard_gamma(p["a"], generator=streams),
        vrandom.standard_gamma(p["a32"], generator=streams),
        vrandom.standard_gamma(torch.full((n, 5), 0.3, dtype=F64, device=dev), generator=streams),
        vrandom.draw(Normal(p["loc"], p["scale"]), generator=streams, sample_shape=()),
        vrandom.draw(Normal(torch.zeros(3, device=dev), torch.ones(3, device=dev)), generator=streams,
                     sample_shape=(n, 2)),
        vrandom.draw(Beta(p["beta_a"], p["beta_b"]), generator=streams),
        vrandom.draw(Bernoulli(probs=p["p"]), generator=streams),
        vrandom.draw(Categorical(probs=p["probs"]), generator=streams),
        vrandom.draw(Independent(Normal(p["loc"], p["scale"]), 1), generator=streams),
        vrandom.draw(Uniform(p["low"], p["low"] + 2), generator=streams),
        vrandom.uniform((n, 4), generator=streams, like=p["loc"]),
    ]
    return out


def test_batched_draws_equal_each_point_drawn_alone_bitwise():
    prm = _parameters()
    streams = PointStreams.from_seed(2024, [11, 3, 0, 42, 7])
    start = streams.select(slice(None))
    together = _sequence(streams, prm, slice(None))
    assert streams.counter == 17  # 16 draws, Beta counts twice
    for b in range(B):
        alone_streams = start.select(b)
        alone = _sequence(alone_streams, prm, slice(b, b + 1))
        assert alone_streams.counter == streams.counter
        for i, (x, y) in enumerate(zip(together, alone, strict=True)):
            assert torch.equal(x[b : b + 1], y), f"draw {i} differs for point {b}"
    # a point's stream depends only on (seed, point id), not on the other points
    other = PointStreams.from_seed(2024, [42])
    assert torch.equal(_sequence(other, prm, slice(3, 4))[5], together[5][3:4])


def test_batch_invariance_with_large_slices_and_sub_batches():
    # Large enough for torch's multi-threaded chunking and SIMD tails to fall at different places.
    g = torch.Generator().manual_seed(3)
    a = torch.rand(4, 3, 4001, generator=g, dtype=F64) * 2 + 0.1
    loc = torch.randn(4, 3, 4001, generator=g)
    streams = PointStreams.from_generator(torch.Generator().manual_seed(9), 4)
    start = streams.select(slice(None))
    together = [vrandom.standard_gamma(a, generator=streams), vrandom.normal(loc, torch.ones(()), generator=streams)]
    for index in ([2, 0], slice(1, 4), torch.tensor([False, True, False, True]), 3):
        sub = start.select(index)
        idx = torch.arange(4)[index if not isinstance(index, int) else slice(index, index + 1)]
        alone = [vrandom.standard_gamma(a[idx], generator=sub), vrandom.normal(loc[idx], torch.ones(()), generator=sub)]
        for x, y in zip(together, alone, strict=True):
            assert torch.equal(x[idx], y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batch_invariance_on_cuda_with_keys_on_cpu():
    prm = {k: v.cuda() for k, v in _parameters().items()}
    streams = PointStreams.from_seed(5, range(B))  # keys on the CPU are moved per call
    together = _sequence(streams, prm, slice(None))
    assert all(t.device.type == "cuda" for t in together)
    for b in range(B):
        alone = _sequence(PointStreams.from_seed(5, [b]).to("cuda"), prm, slice(b, b + 1))
        for x, y in zip(together, alone, strict=True):
            assert torch.equal(x[b : b + 1], y)
    # same bits as on the CPU for the hash-only draws (uniforms)
    cpu = _sequence(PointStreams.from_seed(5, range(B)), _parameters(), slice(None))
    assert torch.equal(together[0].cpu(), cpu[0]) and torch.equal(together[1].cpu(), cpu[1])


# --- counter contract --------------------------------------------------------------------------------


def test_counter_advances_by_exactly_one_per_primitive_call():
    s = PointStreams.from_seed(0, range(3))
    like = torch.zeros((), dtype=F64)
    calls = [
        lambda: vrandom.uniform((3, 4), generator=s, like=like),
        lambda: vrandom.normal(torch.zeros(3, 2), torch.ones(3, 2), generator=s),
        lambda: vrandom.multinomial(torch.ones(3, 4), 10, generator=s),
        # small concentrations reject more often: still one call, whatever the number of passes
        lambda: vrandom.standard_gamma(torch.full((3, 500), 1e-3, dtype=F64), generator=s),
        lambda: vrandom.standard_gamma(torch.full((3, 500), 50.0), generator=s),
        lambda: vrandom.draw(Categorical(logits=torch.zeros(3, 4)), generator=s),
    ]
    for i, call in enumerate(calls):
        call()
        assert s.counter == i + 1
    vrandom.draw(Beta(torch.ones(3), torch.ones(3)), generator=s)
    assert s.counter == len(calls) + 2
    # the counter is all the state: the same counter gives the same numbers
    again = PointStreams(s.keys, counter=2)
    first = vrandom.uniform((3, 4), generator=again, like=like)
    assert torch.equal(first, vrandom.uniform((3, 4), generator=PointStreams(s.keys, 2), like=like))
    assert not torch.equal(first, vrandom.uniform((3, 4), generator=again, like=like))


def test_wrong_leading_size_raises_a_clear_error_and_does_not_advance():
    s = PointStreams.from_seed(0, range(5))
    like = torch.zeros(())
    cases = [
        lambda: vrandom.uniform((4, 3), generator=s, like=like),
        lambda: vrandom.uniform((), generator=s, like=like),
        lambda: vrandom.normal(torch.zeros(4, 2), torch.ones(2), generator=s),
        lambda: vrandom.multinomial(torch.ones(4, 3), 2, generator=s),
        lambda: vrandom.standard_gamma(torch.ones(4), generator=s),
        lambda: vrandom.draw(Normal(torch.zeros(2), torch.ones(2)), generator=s, sample_shape=(4,)),
    ]
    for case in cases:
        with pytest.raises(ValueError, match=r"5 data points.*(leading size 4|no leading axis)"):
            case()
    with pytest.raises(ValueError, match=r"\(B, \.\.\., C\) with B = 5"):
        vrandom.multinomial(torch.ones(3), 2, generator=s)
    with pytest.raises(ValueError, match="non-negative"):
        vrandom.multinomial(torch.zeros(5, 3), 2, generator=s)
    with pytest.raises(ValueError, match="finite and > 0"):
        vrandom.standard_gamma(torch.tensor([1.0, 0.0, 1.0, 1.0, float("nan")]), generator=s)
    assert s.counter == 0


def test_select_to_and_repr():
    s = PointStreams.from_seed(1, range(6))
    s.counter = 4
    assert s.select(2).num_points == 1 and s.select(2).counter == 4
    assert torch.equal(s[-1].keys, s.keys[5:])
    assert torch.equal(s[[4, 1]].keys, s.keys[[4, 1]])
    assert torch.equal(s[torch.tensor([0, 5])].keys, s.keys[[0, 5]])
    assert s[1:4].num_points == 3
    with pytest.raises(IndexError):
        s.select(6)
    copy = s.to("cpu")
    vrandom.uniform((6,), generator=copy, like=torch.zeros(()))
    assert (copy.counter, s.counter) == (5, 4)  # copies advance independently
    assert repr(s) == "PointStreams(num_points=6, counter=4, device='cpu')"


def test_from_generator_draws_keys_from_the_generator():
    a = PointStreams.from_generator(torch.Generator().manual_seed(0), 100)
    b = PointStreams.from_generator(torch.Generator().manual_seed(0), 100)
    assert torch.equal(a.keys, b.keys) and a.keys.unique().numel() == 100
    assert (a.keys < 0).any() and (a.keys > 0).any()  # full 64-bit keys
    g = torch.Generator().manual_seed(0)
    PointStreams.from_generator(g, 3)
    assert not torch.equal(PointStreams.from_generator(g, 3).keys, a.keys[:3])  # the generator advanced


# --- distributions ------------------------------------------------------------------------------------

N_POINTS, PER_POINT = 400, 500  # n = 200_000 draws


def _streams(seed: int = 0) -> PointStreams:
    return PointStreams.from_seed(seed, range(N_POINTS))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_uniform_moments_and_ks(dtype):
    u = vrandom.uniform((N_POINTS, PER_POINT), generator=_streams(), like=torch.zeros((), dtype=dtype))
    assert u.dtype == dtype and bool((u > 0).all() and (u < 1).all())
    x = u.double().reshape(-1)
    n = x.numel()
    assert abs(float(x.mean()) - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(float(x.var()) - 1 / 12) < 5 * math.sqrt((1 / 80 - 1 / 144) / n)
    assert stats.kstest(x.numpy(), "uniform").pvalue > 1e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_normal_ks_and_moments(dtype):
    loc, scale = torch.tensor(1.5, dtype=dtype), torch.tensor(2.0, dtype=dtype)
    x = vrandom.normal(loc.expand(N_POINTS, PER_POINT), scale, generator=_streams(1))
    assert x.dtype == dtype
    z = ((x.double() - 1.5) / 2.0).reshape(-1)
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n)
    assert abs(float(z.var()) - 1) < 5 * math.sqrt(2 / n)
    assert stats.kstest(z.numpy(), "norm").pvalue > 1e-4


@pytest.mark.parametrize("a", [0.05, 0.4, 1.0, 2.5, 40.0])
def test_standard_gamma_moments_and_ks(a):
    conc = torch.full((N_POINTS, PER_POINT // 2), a, dtype=F64)
    x = vrandom.standard_gamma(conc, generator=_streams(2)).reshape(-1)
    n = x.numel()
    assert bool((x >= 0).all())
    assert abs(float(x.mean()) - a) < 5 * math.sqrt(a / n)
    m4 = 3 * a**2 + 6 * a  # central fourth moment of Gamma(a, 1)
    assert abs(float(x.var()) - a) < 5 * math.sqrt((m4 - a**2) / n)
    assert stats.kstest(x.numpy(), stats.gamma(a).cdf).pvalue > 1e-4


@pytest.mark.parametrize("a,b", [(0.3, 0.7), (2.0, 5.0), (40.0, 3.0)])
def test_beta_moments_and_ks(a, b):
    shape = (N_POINTS, PER_POINT // 2)
    d = Beta(torch.full(shape, a, dtype=F64), torch.full(shape, b, dtype=F64))
    x = vrandom.draw(d, generator=_streams(3)).reshape(-1)
    n = x.numel()
    mean = a / (a + b)
    var = a * b / ((a + b) ** 2 * (a + b + 1))
    assert abs(float(x.mean()) - mean) < 5 * math.sqrt(var / n)
    m4 = float(((x - mean) ** 4).mean())
    assert abs(float(x.var()) - var) < 5 * math.sqrt((m4 - var**2) / n)
    assert stats.kstest(x.numpy(), stats.beta(a, b).cdf).pvalue > 1e-4


def test_multinomial_frequencies_and_zero_probability_categories():
    probs = torch.tensor([0.0, 0.1, 0.0, 0.25, 0.05, 1e-3, 0.599, 0.0], dtype=F64)
    weights = (probs * 7.0).expand(N_POINTS, 2, 8)  # unnormalised weights are fine
    idx = vrandom.multinomial(weights, PER_POINT // 2, generator=_streams(4))
    assert idx.shape == (N_POINTS, 2, PER_POINT // 2) and idx.dtype == torch.int64
    counts = torch.bincount(idx.reshape(-1), minlength=8).double()
    assert counts[probs == 0].sum() == 0
    n = float(counts.sum())
    positive = probs > 0
    chi2 = stats.chisquare(counts[positive].numpy(), (n * probs[positive] / probs.sum()).numpy())
    assert chi2.pvalue > 1e-4
    # a category with tiny probability next to zero-probability ones: the only possible outcome
    tiny = torch.tensor([0.0, 1e-300, 0.0], dtype=F64).expand(N_POINTS, 3)
    assert bool((vrandom.multinomial(tiny, 50, generator=_streams(5)) == 1).all())
    # float32 probabilities with a leading zero, through Categorical
    cat = vrandom.draw(Categorical(probs=torch.tensor([[0.0, 0.3, 0.7]]).expand(N_POINTS, 3)), generator=_streams(6),
                       sample_shape=())
    assert cat.shape == (N_POINTS,) and bool((cat > 0).all())


def test_bernoulli_frequency():
    p = 0.137
    x = vrandom.draw(Bernoulli(probs=torch.full((N_POINTS, PER_POINT), p, dtype=F64)), generator=_streams(7))
    n = x.numel()
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(x.mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)


# --- independence -----------------------------------------------------------------------------------


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([x.reshape(-1).double(), y.reshape(-1).double()]))[0, 1])


def test_points_counters_seeds_and_positions_are_uncorrelated():
    n = 100_000
    like = torch.zeros((), dtype=F64)
    s = PointStreams.from_seed(11, [0, 1, 2**40])
    first = vrandom.uniform((3, n), generator=s, like=like)
    second = vrandom.uniform((3, n), generator=s, like=like)
    other_seed = vrandom.uniform((3, n), generator=PointStreams.from_seed(12, [0, 1, 2**40]), like=like)
    pairs = [
        (first[0], first[1]),  # adjacent point ids, same call
        (first[0], first[2]),
        (first[1], second[1]),  # consecutive counters, same point
        (first[0], other_seed[0]),  # seeds differing by 1, same point id
        (first[0, :-1], first[0, 1:]),  # neighbouring positions within a point
    ]
    tol = 5 / math.sqrt(n)
    for x, y in pairs:
        assert abs(_corr(x, y)) < tol
        assert (x == y).double().mean() < 1e-3  # not the same numbers
    # sub-streams of one gamma call: Gamma(1) = Exp(1) draws of different points are uncorrelated
    g = vrandom.standard_gamma(torch.ones(3, n, dtype=F64), generator=s)
    assert abs(_corr(g[0], g[1])) < tol


# --- the torch.Generator path is unchanged ------------------------------------------------------------


def test_generator_path_matches_torch_samplers():
    like = torch.zeros((), dtype=F64)
    assert torch.equal(
        vrandom.uniform((4, 3), generator=torch.Generator().manual_seed(0), like=like),
        torch.rand((4, 3), generator=torch.Generator().manual_seed(0), dtype=F64),
    )
    loc, scale = torch.randn(4, 3, generator=torch.Generator().manual_seed(1)), torch.tensor(2.0)
    assert torch.equal(
        vrandom.draw(Normal(loc, scale), generator=torch.Generator().manual_seed(0)),
        loc + scale * torch.randn((4, 3), generator=torch.Generator().manual_seed(0)),
    )
    probs = torch.tensor([[0.2, 0.0, 0.8], [0.5, 0.5, 0.0]])
    assert torch.equal(
        vrandom.multinomial(probs, 7, generator=torch.Generator().manual_seed(0)),
        torch.multinomial(probs, 7, replacement=True, generator=torch.Generator().manual_seed(0)),
    )


def test_generator_path_regression_values():
    # Recorded with the generator-only implementation before PointStreams were added.
    g = torch.Generator().manual_seed(0)
    gamma = vrandom.standard_gamma(torch.tensor([0.3, 0.9, 1.0, 2.5, 40.0], dtype=F64), generator=g)
    expected = [0.018886785865735167, 0.795326862945879, 1.6139710197581683, 3.1157009628899632, 33.22074614237354]
    torch.testing.assert_close(gamma, torch.tensor(expected, dtype=F64), rtol=1e-12, atol=0)
    beta = vrandom.draw(Beta(torch.tensor([0.5, 2.0], dtype=F64), torch.tensor([3.0, 0.7], dtype=F64)),
                        generator=g, sample_shape=(2,))
    expected = [[0.009095657276564731, 0.45924268084983116], [0.20370750821149236, 0.1494699407137698]]
    torch.testing.assert_close(beta, torch.tensor(expected, dtype=F64), rtol=1e-12, atol=0)
    cat = vrandom.draw(Categorical(probs=torch.tensor([0.2, 0.0, 0.5, 0.3])), generator=g, sample_shape=(8,))
    assert cat.tolist() == [2, 2, 2, 0, 3, 3, 2, 2]
    gamma32 = vrandom.standard_gamma(torch.tensor([0.5, 3.0]), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(gamma32, torch.tensor([0.3212280571460724, 3.12673282623291]), rtol=1e-6, atol=0)
