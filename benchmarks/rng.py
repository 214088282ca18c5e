"""Time :class:`vaeinfer.random.PointStreams` draws against ``torch.Generator`` draws.

    python benchmarks/rng.py [--numel N] [--threads T] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from vaeinfer.random import PointStreams, RandomSource, make_generator, multinomial, normal, standard_gamma, uniform


def benchmark(numel: int = 10**6, threads: int = 2, repeats: int = 20, points: int = 1000) -> None:
    """Print the time of each primitive drawing ``numel`` numbers with :class:`PointStreams` and
    with a ``torch.Generator``: best and median of ``repeats`` runs in ms, the two sources taking
    turns, after one untimed round of every draw (which also settles the memory allocator)."""
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
    parser = argparse.ArgumentParser(description="Time PointStreams against torch.Generator draws.")
    parser.add_argument("--numel", type=int, default=10**6, help="numbers per draw (default 1e6)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per draw and source (default 20)")
    args = parser.parse_args()
    benchmark(args.numel, args.threads, args.repeats)
