"""Killing the workflow mid-job: no partial output, resumed training, and the same bytes in the end.

The workflow test kills a real ``snakemake --cores 1`` (its whole process group, SIGKILL) twice:
once while a VAE is pre-training (its resume file exists, so training is under way) and once while
a sampler runs; after each kill every output on disk opens, and after ``--rerun-incomplete``
finishes the run, its grids, checkpoints, figures, tables and run files equal, byte for byte, those
of an uninterrupted run of the same config. The fast tests check the pieces on their own.
"""

import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import xarray as xr
import yaml
from PIL import Image

from vaeinfer import training
from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.models.toy import ToyVAEConfig
from vaeinfer.results.io import atomic_path, remove_stale_temporaries
from vaeinfer.training import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ENV = {**os.environ, "PYTHONHASHSEED": "0"}

#: the sampler run that is killed: long enough (seconds) to be caught mid-run
SLOW_RUN = "results/runs/uci/wine/mcar50/pseudo_gibbs_clip/seed1"
SLOW_LOG = "logs/sample_test_points/uci/wine/mcar50/pseudo_gibbs_clip/seed1.log"
CHECKPOINTS = "results/checkpoints/wine"
#: what the interrupted run must reproduce byte for byte
COMPARED = ("results/grids", "results/checkpoints", "results/figures", "results/tables", "results/runs")


def resume_config() -> dict:
    """tiny.yaml cut down to the UCI experiment on one dataset and seed (one VAE, two sampler runs),
    with a VAE that trains for a few seconds and writes its resume file every epoch."""
    cfg = yaml.safe_load(TINY.read_text())
    for name in ("toy_pitfalls", "mnist_gmm", "omniglot"):
        cfg["experiments"][name]["enabled"] = False
    cfg["models"]["wine"]["training"]["epochs"] = 300
    cfg["models"]["wine"]["checkpoint_every_epochs"] = 1
    uci = cfg["experiments"]["uci"]
    uci["seeds"] = [1]
    uci["samplers"] = {
        "pseudo_gibbs_clip": {"sampler": "pseudo_gibbs", "num_chains": 3, "num_iterations": 3000,
                              "options": {"clip": "dataset"}},
        "lair": uci["samplers"]["lair"],
    }
    return cfg


def copy_workflow(dest: Path, config: dict) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "environment.yml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    # --configfile deep-merges into config/config.yaml, so the test config replaces it instead
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return dest


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """``snakemake --cores 1 ...`` in its own process group (so the whole group can be killed)."""
    with open(cwd / f"snakemake-{time.monotonic_ns()}.out", "w") as out:  # the child keeps its own copy
        return subprocess.Popen([*SNAKEMAKE, "--cores", "1", *args], cwd=cwd, env=ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(proc: subprocess.Popen, cwd: Path, ready, what: str, timeout: float = 300) -> None:
    """SIGKILL ``proc``'s whole process group (Snakemake and its running job) once ``ready()``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            outs = sorted(cwd.glob("snakemake-*.out"))
            raise AssertionError(f"snakemake ended before {what}:\n{outs[-1].read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while (left := group_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of the killed group still run: {left}"


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from /proc (Linux; elsewhere none)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def temporaries(work: Path) -> list[Path]:
    """``.<name>.*.tmp`` files of atomic_path anywhere (Snakemake's own .snakemake/ aside)."""
    return sorted(p.relative_to(work) for p in work.rglob(".*.tmp") if ".snakemake" not in p.relative_to(work).parts)


def check_every_output_opens(work: Path) -> int:
    """Open every result file on disk with its own reader: none may be truncated."""
    count = 0
    for path in sorted((work / "results").rglob("*")) + sorted((work / "resources").rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = path.suffix
        if suffix == ".nc":
            xr.open_dataset(path, engine="netcdf4").load().close()
        elif suffix == ".pt":
            assert isinstance(torch.load(path, map_location="cpu", weights_only=True), dict), path
        elif suffix == ".png":
            with Image.open(path) as img:
                img.verify()
        elif suffix == ".pdf":
            data = path.read_bytes()
            assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), path
        elif suffix in (".csv", ".tsv"):
            assert len(pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")) > 0, path
        elif suffix == ".md":
            assert path.read_text().strip(), path
        else:
            continue
        count += 1
    return count


def plant_temporary(path: Path) -> Path:
    """What a writer killed mid-write leaves: a temporary sibling ``.<name>.<random>.tmp``."""
    stale = path.parent / f".{path.name}.planted.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half a file")
    return stale


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """An uninterrupted run and, alongside it, a run killed twice and resumed; what was seen."""
    config = resume_config()
    reference = copy_workflow(tmp_path_factory.mktemp("uninterrupted"), config)
    work = copy_workflow(tmp_path_factory.mktemp("interrupted"), config)
    seen: dict = {"reference": reference, "work": work}
    ref_proc = start(reference)  # runs alongside: each job is single-threaded (--cores 1)
    try:
        # 1. kill while the VAE pre-trains: its resume file exists once an epoch is done
        resume_dir = work / CHECKPOINTS / "resume"
        proc = start(work)
        kill_when(proc, work, lambda: any(resume_dir.glob("*.pt")), "the resume file")
        (resume,) = resume_dir.glob("*.pt")
        seen["resume_file"] = resume.relative_to(work)
        seen["resume_epoch"] = torch.load(resume, weights_only=True)["epoch"]
        seen["after_kill_1"] = {"temporaries": temporaries(work), "opened": check_every_output_opens(work),
                                "checkpoint": (work / CHECKPOINTS / "vae.pt").exists()}
        planted = [plant_temporary(work / CHECKPOINTS / "vae.pt"), plant_temporary(resume)]

        # 2. rerun; kill while the slow sampler run is under way (its job has opened its log)
        subprocess.run([*SNAKEMAKE, "--unlock"], cwd=work, env=ENV, check=True, capture_output=True)
        proc = start(work, "--rerun-incomplete")
        kill_when(proc, work, lambda: (work / SLOW_LOG).exists(), "the sampler run")
        seen["pretrain_log"] = (work / "logs/pretrain_vae/wine.log").read_text()
        seen["after_kill_2"] = {"temporaries": temporaries(work), "opened": check_every_output_opens(work),
                                "samples": (work / SLOW_RUN / "samples.nc").exists(),
                                "checkpoint": (work / CHECKPOINTS / "vae.pt").exists()}
        planted.append(plant_temporary(work / SLOW_RUN / "samples.nc"))
        seen["planted"] = planted

        # 3. rerun to the end
        subprocess.run([*SNAKEMAKE, "--unlock"], cwd=work, env=ENV, check=True, capture_output=True)
        proc = start(work, "--rerun-incomplete")
        _wait(proc, work)
    finally:
        _wait(ref_proc, reference)
    return seen


def _wait(proc: subprocess.Popen, cwd: Path) -> None:
    rc = proc.wait(timeout=900)
    if rc != 0:
        outs = sorted(cwd.glob("snakemake-*.out"))
        raise AssertionError(f"snakemake failed in {cwd} ({rc}):\n{outs[-1].read_text()[-3000:]}")


@pytest.mark.slow
def test_a_killed_pretraining_resumes_from_its_last_epoch(killed_and_resumed):
    seen = killed_and_resumed
    k = seen["resume_epoch"]
    assert 0 < k < resume_config()["models"]["wine"]["training"]["epochs"]
    resumed = [line for line in seen["pretrain_log"].splitlines() if "resuming from" in line]
    assert resumed == [f"vaeinfer.training: resuming from {seen['resume_file']} at epoch {k} of 300"]
    # the finished job replaced the resume file by the checkpoint
    assert list((seen["work"] / CHECKPOINTS / "resume").glob("*")) == []


@pytest.mark.slow
def test_no_partial_output_after_a_kill(killed_and_resumed):
    seen = killed_and_resumed
    first, second = seen["after_kill_1"], seen["after_kill_2"]
    # killed mid-job: the jobs' outputs were not written, and whatever was written opens
    assert not first["checkpoint"] and not second["samples"] and second["checkpoint"]
    assert first["opened"] >= 1 and second["opened"] > first["opened"]
    # SIGKILL inside a write (a fraction of a millisecond) may leave a temporary beside the killed
    # job's own output, never elsewhere; the job's rerun removes it (the planted ones show it)
    assert all(p.parent in (Path(CHECKPOINTS), Path(CHECKPOINTS) / "resume") for p in first["temporaries"])
    assert all(p.parent == Path(SLOW_RUN) for p in second["temporaries"])
    assert temporaries(seen["work"]) == []
    assert not any(p.exists() for p in seen["planted"])


@pytest.mark.slow
def test_the_resumed_run_equals_an_uninterrupted_one_byte_for_byte(killed_and_resumed):
    seen = killed_and_resumed
    ref, work = seen["reference"], seen["work"]
    files = sorted(p.relative_to(ref) for d in COMPARED for p in (ref / d).rglob("*") if p.is_file())
    assert {str(p) for p in files} >= {"results/grids/uci.nc", f"{CHECKPOINTS}/vae.pt", "results/figures/uci.png",
                                       "results/figures/training_curves.pdf", f"{SLOW_RUN}/samples.nc"}
    assert files == sorted(p.relative_to(work) for d in COMPARED for p in (work / d).rglob("*") if p.is_file())
    differ = [str(p) for p in files if (ref / p).read_bytes() != (work / p).read_bytes()]
    assert differ == []
    check_every_output_opens(work)


# --- the pieces, fast -------------------------------------------------------------------------------


def test_stale_temporaries_of_one_output_are_removed(tmp_path):
    target = tmp_path / "samples.nc"
    mine = [tmp_path / ".samples.nc.abc123.tmp", tmp_path / ".samples.nc.x.y.tmp"]
    others = [tmp_path / ".metrics.nc.abc123.tmp", tmp_path / "samples.nc.tmp", tmp_path / ".samples.nc"]
    for p in mine + others:
        p.write_bytes(b"x")
    assert remove_stale_temporaries(target) == sorted(mine)
    assert all(p.exists() for p in others)
    assert remove_stale_temporaries(tmp_path / "missing" / "out.nc") == []


def test_atomic_outputs_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("a\n1\n")
    finally:
        os.umask(old)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_toy_vae_training_resumes(tmp_path, monkeypatch, caplog):
    """The toy VAE (longest pre-training of the default run) resumes like the real-data VAEs."""
    data = toy.make_dataset(toy.ToyDataConfig(seed=3, num_train=300, num_val=60, num_test=10))
    config = toy.ModelConfig(seed=3, num_latent_samples=2,
                             architecture=ToyVAEConfig(data_dim=2, width=8, num_blocks=1, dropout=0.1),
                             training=TrainingConfig(epochs=7, batch_size=64, learning_rate=1e-3))
    cpu = torch.device("cpu")
    plain, plain_result = toy.train_vae(data, config, device=cpu, progress=False)
    path = tmp_path / "resume" / "toy.pt"
    # interrupted after 6 epochs (the resume file is written every RESUME_EVERY_EPOCHS = 5 and at the stop)
    monkeypatch.setattr(toy, "fit", functools.partial(training.fit, stop_after_epochs=6))
    _, stopped = toy.train_vae(data, config, device=cpu, progress=False, resume_path=path)
    assert not stopped.finished and torch.load(path, weights_only=True)["epoch"] == 6
    monkeypatch.undo()
    with caplog.at_level(logging.INFO, logger="vaeinfer.training"):
        resumed, result = toy.train_vae(data, config, device=cpu, progress=False, resume_path=path)
    assert caplog.messages == [f"resuming from {path} at epoch 6 of 7"]
    assert result.history == plain_result.history and result.best_epoch == plain_result.best_epoch
    for (name, a), b in zip(plain.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
