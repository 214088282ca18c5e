#!/usr/bin/env python
"""Benchmark every registered sampler: time per iteration against the network floor, throughput, memory.

For each model (the toy VAE and an image-sized VAE, see ``benchmarks/models.py``), device, sampler
and size B x K, the script times single sampler iterations (``spec.step``) and the bare encoder and
decoder forward passes that one iteration performs (the *floor*), and reports

* ms/iteration: the median wall time of one iteration, after warm-up iterations;
* floor ms: the median wall time of that iteration's network passes alone, at the same shapes;
* ratio: ms/iteration / floor ms (1.0 = no overhead beyond the networks);
* proposals/s: B x (proposals per point per iteration) / time per iteration;
* peak MB: the peak memory of the sampler (init and warm-up iterations) above what was in use before.

Each configuration runs in a fresh subprocess, so CPU peak memory (peak resident set size) is
per configuration. Results go to ``results/benchmarks/samplers.{csv,md}``, written atomically.
See ``benchmarks/README.md`` for how to read them.

Examples::

    python benchmarks/samplers.py --quick
    nice -n 10 python benchmarks/samplers.py --threads 2
    python benchmarks/samplers.py --samplers lair ac_mwg --models image --sizes 1000 --profile
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

import vaeinfer.random as vrandom
from vaeinfer.samplers import SAMPLERS, Start, make_problem
from vaeinfer.samplers.base import initial_imputation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import MODELS, build_model, make_data  # noqa: E402  (benchmarks/models.py)

ROOT = Path(__file__).resolve().parent.parent
SEED = 20231
LAIR_CHAINS, LAIR_PRIOR_COMPONENTS = 19, 1
CHAINS = 10
DEFAULT_SIZES = (100, 1000, 10000)
QUICK_SIZES = (100, 1000)
_RESULT_MARK = "@@BENCHMARK-RESULT@@ "

#: The network passes of one iteration of each sampler (read off its ``step``):
#: ``("encoder", "K")`` an encoder pass on (B, K, D) completed data; ``("decoder", "K")`` a decoder
#: pass on (B, K, L) latents; ``("decoder", "N")`` on LAIR's (B, K + R, L) proposals.
PASSES: dict[str, tuple[tuple[str, str], ...]] = {
    "marginal": (("decoder", "K"),),  # decode_and_impute(prior draws)
    "pseudo_gibbs": (("encoder", "K"), ("decoder", "K")),  # q(z | x), then p(x | z)
    "mwg": (("encoder", "K"), ("decoder", "K"), ("decoder", "K")),  # proposal, its likelihood, Gibbs x_m
    "ac_mwg": (("encoder", "K"), ("decoder", "K"), ("decoder", "K")),  # same three passes as MWG
    "lair": (("encoder", "K"), ("decoder", "N"), ("decoder", "K")),  # mixture, weights, imputation
    "importance_resampling": (("decoder", "K"), ("decoder", "K")),  # weights, imputation
}


@dataclass(frozen=True)
class Case:
    """One measured configuration (passed to the worker subprocess as JSON)."""

    model: str
    device: str
    sampler: str
    batch: int
    chains: int
    prior_components: int
    target: int
    warmup: int
    iterations: int
    threads: int | None
    rng: str
    seed: int

    @property
    def proposals_per_point(self) -> int:
        """Proposals per data point per iteration: K + R for LAIR, one per chain otherwise."""
        return self.chains + self.prior_components if self.sampler == "lair" else self.chains


# --- measurement (runs in the worker) --------------------------------------------------------------


def _synchronizer(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _interleaved(
    fns: tuple[Callable[[], Any], ...], *, repeats: int, sync: Callable[[], None]
) -> list[list[tuple[float, float]]]:
    """(wall, process CPU) times (s) of ``repeats`` rounds of calling each of ``fns`` once, in turn.

    Alternating the calls exposes all of them to the same background load, so their ratio stays
    meaningful on a busy machine.
    """
    times: list[list[tuple[float, float]]] = [[] for _ in fns]
    sync()
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            sync()
            out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def _parameter(dist: Any) -> torch.Tensor:
    """A tensor the distribution already holds (no lazy computation): forces nothing, proves it exists."""
    while isinstance(dist, torch.distributions.Independent):
        dist = dist.base_dist
    for name in ("loc", "logits", "probs", "low"):
        if name in vars(dist):
            return vars(dist)[name]
    return dist.mean


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int:
    """The kernel's peak resident set size of this process (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class _PeakMemory:
    """Peak memory above the level at ``start()``: CUDA allocator stats, or the process's peak RSS."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = "cuda_max_memory_allocated" if device.type == "cuda" else "peak_rss"
        self.base = 0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            return
        try:  # reset the kernel's high-water mark (Linux >= 4.0) so that the peak is this phase's
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = _rss_bytes()
            self.method = "peak_rss (VmHWM reset)"
        except OSError:  # no reset: the increase of the lifetime peak (0 if an earlier peak was higher)
            self.base = _maxrss_bytes()
            self.method = "peak_rss (increase of ru_maxrss)"

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        peak = _hwm_bytes() if self.method == "peak_rss (VmHWM reset)" else _maxrss_bytes()
        return max(0, peak - self.base) / 2**20


def _random_source(case: Case, device: torch.device) -> vrandom.RandomSource:
    if case.rng == "streams":
        ids = torch.arange(case.batch, dtype=torch.int64)
        return vrandom.PointStreams.from_seed(case.seed, ids, device=device)
    return vrandom.make_generator(case.seed, device)


def _sampler_config(case: Case) -> Any:
    spec = SAMPLERS[case.sampler]
    if case.sampler == "lair":
        return spec.config_cls(num_prior_components=case.prior_components)
    return spec.config_cls()


class _Setup:
    """Model, problem, start and sampler state of one case, ready to step."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.device = torch.device(case.device)
        self.sync = _synchronizer(self.device)
        self.model = build_model(case.model, seed=case.seed, device=self.device)
        x, mask = make_data(case.model, case.batch, seed=case.seed, device=self.device)
        self.problem = make_problem(self.model, x, mask)
        self.spec = SAMPLERS[case.sampler]
        self.config = _sampler_config(case)
        if self.spec.check is not None:
            self.spec.check(self.config, case.chains, 1)
        self.source = _random_source(case, self.device)
        with torch.no_grad():
            self.x0, self.z0 = initial_imputation(self.problem, case.chains, generator=self.source)
            other = vrandom.make_generator(case.seed + 2, self.device)
            n = case.chains + case.prior_components
            self.z_proposals = vrandom.draw(self.model.prior(), generator=other, sample_shape=(case.batch, n))
        self.state: Any = None

    def init_state(self) -> None:
        start = Start(self.x0, self.z0, self.x0[None])
        with torch.no_grad():
            self.state = self.spec.init(self.problem, start, self.config, generator=self.source)

    def step(self) -> None:
        with torch.no_grad():
            self.state, _ = self.spec.step(self.problem, self.state, self.config, generator=self.source)

    def floor(self) -> None:
        """The network passes of one iteration (:data:`PASSES`), nothing else."""
        model = self.model
        with torch.no_grad():
            for network, shape in PASSES[self.case.sampler]:
                if network == "encoder":
                    _parameter(model.encoder(self.x0))
                else:
                    _parameter(model.decoder(self.z_proposals if shape == "N" else self.z0))


def measure(case: Case) -> dict[str, Any]:
    """Measure ``case``; one CSV row.

    Peak memory covers ``init`` and the warm-up iterations (at least one); then timed iterations
    and timed floors alternate (:func:`_interleaved`).
    """
    if case.threads is not None:
        torch.set_num_threads(case.threads)
    setup = _Setup(case)
    memory = _PeakMemory(setup.device)
    memory.start()
    setup.init_state()
    for _ in range(case.warmup):
        setup.step()
    peak = memory.peak_mb()
    for _ in range(case.warmup):
        setup.floor()
    step_times, floor_times = _interleaved((setup.step, setup.floor), repeats=case.iterations, sync=setup.sync)
    step_s = statistics.median(t for t, _ in step_times)
    floor_s = statistics.median(t for t, _ in floor_times)
    step_cpu = statistics.median(c for _, c in step_times)
    floor_cpu = statistics.median(c for _, c in floor_times)
    row = asdict(case)
    row.update(
        bk=case.batch * case.chains,
        proposals_per_point=case.proposals_per_point,
        ms_per_iteration=1e3 * step_s,
        ms_per_iteration_min=1e3 * min(t for t, _ in step_times),
        floor_ms=1e3 * floor_s,
        floor_ms_min=1e3 * min(t for t, _ in floor_times),
        ratio=step_s / floor_s,
        ratio_min=min(t for t, _ in step_times) / min(t for t, _ in floor_times),
        cpu_ms_per_iteration=1e3 * step_cpu,
        cpu_floor_ms=1e3 * floor_cpu,
        cpu_ratio=step_cpu / floor_cpu if floor_cpu > 0 else math.nan,
        proposals_per_s=case.batch * case.proposals_per_point / step_s,
        peak_mb=peak,
        memory_method=memory.method,
        torch_threads=torch.get_num_threads(),
        passes="+".join(f"{n[0]}{s}" for n, s in PASSES[case.sampler]),
        error="",
    )
    return row


# --- profiling (in process) ------------------------------------------------------------------------


@contextmanager
def _labelled_calls(setup: _Setup) -> Iterator[None]:
    """Label encoder/decoder calls and the outermost random draws in the profiler's trace.

    Patches the model instance and ``vaeinfer.random``'s public draw functions for the duration
    (the samplers look them up at call time); nested draws are attributed to the outermost one.
    """
    model = setup.model
    depth = [0]

    def label(name: str, fn: Callable[..., Any], *, rng: bool = False) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if rng and depth[0]:
                return fn(*args, **kwargs)
            depth[0] += rng
            try:
                with torch.profiler.record_function(name):
                    return fn(*args, **kwargs)
            finally:
                depth[0] -= rng

        return wrapped

    saved = {name: getattr(vrandom, name) for name in ("draw", "uniform", "multinomial")}
    model.encoder = label("net.encoder", type(model).encoder.__get__(model))
    model.decoder = label("net.decoder", type(model).decoder.__get__(model))
    for name, fn in saved.items():
        setattr(vrandom, name, label(f"rng.{name}", fn, rng=True))
    try:
        yield
    finally:
        del model.encoder, model.decoder
        for name, fn in saved.items():
            setattr(vrandom, name, fn)


def profile(case: Case, *, rows: int) -> str:
    """A torch.profiler table of ``case.iterations`` sampler iterations (after warm-up)."""
    if case.threads is not None:
        torch.set_num_threads(case.threads)
    setup = _Setup(case)
    setup.init_state()
    for _ in range(case.warmup):
        setup.step()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if setup.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with _labelled_calls(setup), torch.profiler.profile(activities=activities) as prof:
        for _ in range(case.iterations):
            with torch.profiler.record_function("sampler.step"):
                setup.step()
            setup.sync()
    sort = "self_device_time_total" if setup.device.type == "cuda" else "self_cpu_time_total"
    averages = prof.key_averages()
    per_iteration = {e.key: e.cpu_time_total / 1e3 / case.iterations for e in averages}
    counts = {e.key: e.count for e in averages}
    labels = ["sampler.step", "net.encoder", "net.decoder", "rng.draw", "rng.uniform", "rng.multinomial"]
    lines = [f"  {k:<16} calls {counts[k]:>4}  {per_iteration[k]:9.2f} ms/iteration" for k in labels if k in counts]
    rest = per_iteration.get("sampler.step", 0.0) - sum(per_iteration.get(k, 0.0) for k in labels[1:])
    lines.append(f"  {'rest':<16}             {rest:9.2f} ms/iteration  (step minus networks and random draws)")
    head = "\n".join(lines)
    title = (
        f"{case.model} / {case.device} / {case.sampler}  B={case.batch} K={case.chains} rng={case.rng} "
        f"({case.iterations} iterations; CPU time of labelled regions incl. children):"
    )
    return f"{title}\n{head}\n\n{averages.table(sort_by=sort, row_limit=rows)}"


# --- driver ---------------------------------------------------------------------------------------


def _batch_and_chains(sampler: str, target: int) -> tuple[int, int, int]:
    """(B, K, R) with B x K about ``target``: K = 10 chains, or LAIR's K = 19 particles plus R = 1."""
    if sampler == "lair":
        return max(1, round(target / LAIR_CHAINS)), LAIR_CHAINS, LAIR_PRIOR_COMPONENTS
    return max(1, round(target / CHAINS)), CHAINS, 0


def _iterations(target: int, quick: bool) -> tuple[int, int]:
    """(warm-up, timed) iterations for a size: fewer for the largest sizes."""
    if quick:
        return 1, 3
    if target <= 300:
        return 3, 20
    if target <= 3000:
        return 2, 8
    return 1, 4


def _cases(args: argparse.Namespace) -> list[Case]:
    cases = []
    for model in args.models:
        for device in args.device:
            for target in args.sizes:
                warmup, iterations = _iterations(target, args.quick)
                warmup = max(1, args.warmup) if args.warmup is not None else warmup
                iterations = args.iterations if args.iterations is not None else iterations
                for sampler in args.samplers:
                    batch, chains, prior = _batch_and_chains(sampler, target)
                    cases.append(
                        Case(
                            model,
                            device,
                            sampler,
                            batch,
                            chains,
                            prior,
                            target,
                            warmup,
                            iterations,
                            args.threads,
                            args.rng,
                            args.seed,
                        )
                    )
    return cases


def _busy_cpu_seconds() -> float | None:
    """Non-idle CPU time of the whole machine so far (all CPUs, /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU time of this process and its finished children (the workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _run_worker(case: Case, code: str) -> dict[str, Any]:
    """``measure(case)`` in a fresh interpreter, plus when, under which load and on which code it
    ran; a row with ``error`` set if it failed."""
    context: dict[str, Any] = {"measured_at": _now(), "load1": round(os.getloadavg()[0], 2), "code": code}
    busy, ours, wall = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(asdict(case))]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if busy is not None:
        others = (_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - ours)
        context["others_cpus"] = round(max(0.0, others / (time.perf_counter() - wall)), 2)
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_MARK):
            return {**json.loads(line[len(_RESULT_MARK) :]), **context}
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    tqdm.write(
        f"worker failed ({case.model} {case.device} {case.sampler} B={case.batch}):\n{proc.stderr}", file=sys.stderr
    )
    row = asdict(case)
    row.update(
        bk=case.batch * case.chains,
        proposals_per_point=case.proposals_per_point,
        error=f"exit {proc.returncode}: {tail}",
        **context,
    )
    return row


CSV_FIELDS = [
    "model",
    "device",
    "sampler",
    "batch",
    "chains",
    "prior_components",
    "bk",
    "target",
    "proposals_per_point",
    "ms_per_iteration",
    "ms_per_iteration_min",
    "floor_ms",
    "floor_ms_min",
    "ratio",
    "ratio_min",
    "cpu_ms_per_iteration",
    "cpu_floor_ms",
    "cpu_ratio",
    "proposals_per_s",
    "peak_mb",
    "memory_method",
    "passes",
    "warmup",
    "iterations",
    "torch_threads",
    "rng",
    "seed",
    "measured_at",
    "load1",
    "others_cpus",
    "code",
    "error",
]
DISTURBED_CPUS = 0.25  # others_cpus from which a row counts as disturbed by other work


def _disturbed(row: dict[str, Any]) -> bool:
    return (row.get("others_cpus") or 0.0) >= DISTURBED_CPUS


_INT_FIELDS = {
    "batch",
    "chains",
    "prior_components",
    "bk",
    "target",
    "proposals_per_point",
    "warmup",
    "iterations",
    "torch_threads",
    "threads",
    "seed",
}
_TEXT_FIELDS = {"model", "device", "sampler", "memory_method", "passes", "rng", "measured_at", "code", "error"}


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of an earlier ``samplers.csv`` with numbers parsed (empty cells become None)."""
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key in _TEXT_FIELDS:
                    row[key] = value or ""
                elif value in ("", None):
                    row[key] = None
                else:
                    row[key] = int(value) if key in _INT_FIELDS else float(value)
            rows.append(row)
    return rows


def _merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` rows with those measured again replaced by ``new``, in table order."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["model"], r["device"], r["sampler"], r["target"])

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        rank = lambda seq, x: seq.index(x) if x in seq else len(seq)  # noqa: E731
        return (
            rank(list(MODELS), r["model"]),
            rank(["cpu", "cuda"], r["device"]),
            r["target"],
            rank(list(SAMPLERS), r["sampler"]),
        )

    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in new})
    return sorted(merged.values(), key=order)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def _code_version() -> str:
    """HEAD commit (``-dirty`` with uncommitted changes) and a hash of the package sources as run."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "vaeinfer").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        )
        commit = head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return f"git {commit}; sha256 of src/vaeinfer/**/*.py {digest.hexdigest()[:12]}"


def _machine(args: argparse.Namespace) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    threads = args.threads if args.threads is not None else torch.get_num_threads()
    lines = [
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpu}, {os.cpu_count()} CPUs; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}",
        f"- torch {torch.__version__}, {threads} intra-op threads (torch.set_num_threads)",
        f"- code (at the start): {args.code_version}",
    ]
    if "cuda" in args.device:
        lines.append(f"- CUDA: {torch.cuda.get_device_name(0)}")
    return lines


def _markdown(rows: list[dict[str, Any]], args: argparse.Namespace, elapsed: float, load: tuple[float, float]) -> str:
    out = ["# Sampler benchmark", ""]
    dates = [r["measured_at"] for r in rows if r.get("measured_at")] or ["?"]
    codes = {(r.get("code") or "?").rsplit(" ", 1)[-1] for r in rows}
    out += _machine(args)
    out += [
        f"- 1-minute load average of this run (this benchmark and other processes): {load[0]:.2f} at the "
        f"start, {load[1]:.2f} at the end; {sum(map(_disturbed, rows))} of {len(rows)} rows marked ⚠ (see others)",
        f"- random source: {args.rng}; seed {args.seed}; {'quick' if args.quick else 'full'} mode; "
        f"total wall time {elapsed:.0f} s",
        *(
            [
                f"- --update: this run measured {args.num_measured} of the {len(rows)} rows; the others come "
                "from earlier runs, with their own date, load, code and settings (see the CSV): rows measured "
                f"{min(dates)} to {max(dates)}; code of the rows (src hash): {', '.join(sorted(codes))}"
            ]
            if args.num_measured != len(rows)
            else []
        ),
        "- others: CPUs used on average by *other* processes while the row was measured (machine busy time "
        "from /proc/stat minus this benchmark's own CPU time). ⚠ marks rows with others ≥ "
        f"{DISTURBED_CPUS}: with {args.threads or torch.get_num_threads()} threads every parallel region may wait "
        "for a core another process holds, which inflates both times (small sizes most) and usually the ratio; "
        "re-measure such rows on a quiet machine with --update",
        "- ms/iteration and floor ms: medians over the timed iterations (column `iters`, after "
        "warm-up); floor = the iteration's bare encoder/decoder forward passes (see benchmarks/README.md); "
        "ratio = median ms/iteration / median floor ms; ratio (min) = fastest iteration / fastest floor, "
        "less sensitive to background load",
        "- peak MB: peak memory of sampler init + warm-up iterations above the level before it "
        "(CPU: peak resident set size, VmHWM reset, one fresh process per row; CUDA: "
        "torch.cuda.max_memory_allocated)",
        "- LAIR runs K = 19 particles plus R = 1 prior component (20 proposals per point); "
        "the other samplers K = 10 chains (one proposal each)",
        "",
        "| model | device | sampler | B | K | B×K | ms/iteration | floor ms | ratio | ratio (min) | proposals/s "
        "| peak MB | iters | others |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r.get("error"):
            out.append(
                f"| {r['model']} | {r['device']} | {r['sampler']} | {r['batch']} | {r['chains']} | {r['bk']} "
                f"| failed: {r['error'][:80]} | | | | | | | {_fmt(r.get('others_cpus'), '.2f')} |"
            )
            continue
        out.append(
            f"| {r['model']} | {r['device']} | {r['sampler']} | {r['batch']} | {r['chains']} | {r['bk']:,} "
            f"| {_fmt(r['ms_per_iteration'], '.3g')} | {_fmt(r['floor_ms'], '.3g')} | {_fmt(r['ratio'], '.2f')} "
            f"| {_fmt(r['ratio_min'], '.2f')} "
            f"| {_fmt(r['proposals_per_s'], ',.0f')} | {_fmt(r['peak_mb'], '.1f')} | {r['iterations']} "
            f"| {_fmt(r.get('others_cpus'), '.2f')}{' ⚠' if _disturbed(r) else ''} |"
        )
    checks = [r for r in rows if r["sampler"] in ("lair", "ac_mwg") and r["bk"] >= 1000 and not r.get("error")]
    if checks:
        out += ["", "Target: ratio ≤ 1.3 for LAIR and AC-MWG at B×K ≥ 1,000.", ""]
        for r in checks:
            verdict = "meets" if r["ratio"] <= 1.3 else "MISSES"
            out.append(
                f"- {r['model']} / {r['device']} / {r['sampler']} at B×K = {r['bk']:,}: "
                f"ratio {r['ratio']:.2f} (min {r['ratio_min']:.2f}): {verdict} the target"
            )
    return "\n".join(out) + "\n"


def _parser() -> argparse.ArgumentParser:
    default_rng = "streams" if hasattr(vrandom, "PointStreams") else "generator"
    known = [name for name in SAMPLERS if name in PASSES]
    unknown = [name for name in SAMPLERS if name not in PASSES]
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    parser = argparse.ArgumentParser(
        description=(
            "Time one iteration of every registered sampler against the bare encoder/decoder "
            "forward passes it performs (the floor), on the toy VAE and an image-sized VAE, at "
            "B×K ≈ 100, 1,000 and 10,000. Writes results/benchmarks/samplers.csv and .md. "
            "Each configuration runs in a fresh subprocess (per-configuration peak memory)."
        ),
        epilog="Models: " + "; ".join(f"{k}: {v}" for k, v in MODELS.items()) + ". See benchmarks/README.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="few iterations (1 warm-up, 3 timed) and only B×K ≈ 100 and 1,000"
    )
    parser.add_argument(
        "--device",
        nargs="+",
        choices=["cpu", "cuda"],
        default=devices,
        help="devices to benchmark (default: cpu, plus cuda when available)",
    )
    parser.add_argument(
        "--samplers",
        nargs="+",
        choices=known,
        default=known,
        metavar="NAME",
        help=f"samplers to benchmark (default: all): {', '.join(known)}"
        + (f" (not benchmarked, no pass count in PASSES: {', '.join(unknown)})" if unknown else ""),
    )
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="models to benchmark (default: all)"
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=None,
        help=f"target B×K values (default: {' '.join(map(str, DEFAULT_SIZES))}; "
        f"with --quick {' '.join(map(str, QUICK_SIZES))})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads in every measurement (default: torch's own choice)",
    )
    parser.add_argument(
        "--rng",
        choices=["generator", "streams"],
        default=default_rng,
        help="random source: a torch.Generator or vaeinfer.random.PointStreams "
        f"(default: {default_rng}; streams when vaeinfer.random has PointStreams)",
    )
    parser.add_argument("--warmup", type=int, default=None, help="override the warm-up iterations per size")
    parser.add_argument("--iterations", type=int, default=None, help="override the timed iterations per size")
    parser.add_argument(
        "--seed", type=int, default=SEED, help="seed of the models, data and samplers (default: %(default)s)"
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=ROOT / "results" / "benchmarks",
        help="where samplers.csv and samplers.md are written (default: results/benchmarks)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge into the existing samplers.csv: replace the rows of the configurations measured now, "
        "keep the others (e.g. to re-measure rows disturbed by other work), and rewrite samplers.md from all rows",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the benchmark, print a torch.profiler table per configuration (in process; writes no files)",
    )
    parser.add_argument(
        "--profile-rows", type=int, default=25, help="rows of each --profile table (default: %(default)s)"
    )
    parser.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.worker is not None:
        row = measure(Case(**json.loads(args.worker)))
        print(_RESULT_MARK + json.dumps(row), flush=True)
        return 0
    if "cuda" in args.device and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    if args.rng == "streams" and not hasattr(vrandom, "PointStreams"):
        parser.error("--rng streams: this vaeinfer has no vaeinfer.random.PointStreams yet")
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    cases = _cases(args)
    if args.profile:
        for case in cases:
            print(profile(case, rows=args.profile_rows), flush=True)
        return 0
    args.code_version, args.num_measured = _code_version(), len(cases)
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    measured = []
    bar = tqdm(cases, desc="configurations", unit="config")
    for case in bar:
        bar.set_postfix_str(f"{case.model} {case.device} {case.sampler} B×K={case.batch * case.chains}")
        measured.append(_run_worker(case, args.code_version))
    elapsed = time.perf_counter() - started
    csv_path = args.output_dir / "samplers.csv"
    rows = _merge(_read_csv(csv_path), measured) if args.update and csv_path.exists() else measured
    args.num_measured = len(measured)
    _write_atomic(csv_path, _csv_text(rows))
    markdown = _markdown(rows, args, elapsed, (load_start, os.getloadavg()[0]))
    _write_atomic(args.output_dir / "samplers.md", markdown)
    print(markdown)
    failed = [r for r in measured if r.get("error")]
    for r in failed:
        print(f"FAILED {r['model']} {r['device']} {r['sampler']} B={r['batch']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
