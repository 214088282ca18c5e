"""DVC round trip (README, "Data and checkpoints under DVC"), on a cut-down tiny config (~4 min).

A maintainer pre-trains (the rules of dvc.yaml's pretrain stage), records the outputs with
`dvc commit -f`, commits dvc.lock, pushes to a local remote and runs the rest of the workflow.
A reviewer clones, pulls, touches the pulled files and runs: no pre-training job, the same grids
byte for byte, `dvc status` clean throughout. Retraining at the reviewer's commit reproduces the
hashes in dvc.lock (checkpoints do not embed the git commit).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
PYTHON = Path(sys.executable)
GRIDS = ("results/grids/toy_pitfalls.nc", "results/grids/mnist_gmm.nc")
CHECKPOINTS = (
    "results/checkpoints/toy_grid/vae.pt",
    "results/checkpoints/digits_gmm/vae.pt",
    "results/checkpoints/digits_gmm/classifier.pt",
)
CLEAN = "Data and pipelines are up to date."

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }


def _run(cwd: Path, *cmd: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(), timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def _git(cwd: Path, *args: str) -> str:
    return _run(cwd, "git", "-c", "commit.gpgsign=false", *args)


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, str(PYTHON), "-m", "dvc", *args)


def _snakemake(cwd: Path, *args: str) -> str:
    return _run(cwd, str(PYTHON), "-m", "snakemake", *args)


def _scheduled(log: str) -> set[str]:
    """The rules in Snakemake's "Job stats" table (empty when there is nothing to do)."""
    if "Job stats:" not in log:
        return set()
    rules = set()
    for line in log.split("Job stats:", 1)[1].splitlines()[3:]:
        if not line.strip() or line.split()[0] == "total":
            break
        rules.add(line.split()[0])
    return rules


def _pretrain_rules() -> list[str]:
    """The rules the pretrain stage runs: the words after --until in its command."""
    cmd = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["pretrain"]["cmd"].split()
    return cmd[cmd.index("--until") + 1 :]


def _config() -> dict:
    """tests/workflow/tiny.yaml with the toy experiment and MNIST-GMM only (its VAE and FID
    classifier), LAIR only, one seed."""
    cfg = yaml.safe_load(TINY.read_text())
    experiments = cfg["experiments"]
    for name in ("omniglot", "uci"):
        experiments[name]["enabled"] = False
    for name in ("toy_pitfalls", "mnist_gmm"):
        experiments[name]["samplers"] = {"lair": experiments[name]["samplers"]["lair"]}
        experiments[name]["seeds"] = [1]
    experiments["toy_pitfalls"]["figures"] = {
        "pitfalls": ["lair", "lair_iterates"],
        "ablations": {"LAIR": ["lair", "lair_iterates"]},
    }
    return cfg


def _make_repo(dest: Path, store: Path) -> None:
    """A fresh git + DVC repository holding the workflow, as the maintainer's checkout would."""
    for name in ("Snakefile", "workflow", "config", "environment.yml", "dvc.yaml", "data.dvc", ".dvcignore",
                 ".gitignore", ".dvc/config", ".dvc/.gitignore"):
        src, dst = ROOT / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    # data/ is DVC-tracked, not in git: a clean clone (CI) has only data.dvc. The maintainer's data/
    # here is its README when present, else a stand-in file; `dvc commit -f` below re-records data.dvc.
    readme = ROOT / "data" / "README.md"
    (dest / "data").mkdir(exist_ok=True)
    (dest / "data" / "README.md").write_text(
        readme.read_text() if readme.exists() else "Raw external inputs (downloaded by the workflow).\n"
    )
    # the pretrain stage's code deps
    shutil.copytree(ROOT / "src" / "vaeinfer", dest / "src" / "vaeinfer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    # NOTE: --configfile deep-merges, so the test config replaces the default one instead.
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(_config(), sort_keys=False))
    _git(dest, "init", "-q", "-b", "main")
    _dvc(dest, "remote", "add", "--default", "--force", "local", str(store))
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "workflow")


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dvc")
    origin, clone, store = tmp / "origin", tmp / "clone", tmp / "dvc-store"
    seen: dict[str, str] = {}
    started = time.monotonic()

    # maintainer: pre-train (what `dvc repro` runs), record, publish, then run the rest of the workflow
    origin.mkdir()
    _make_repo(origin, store)
    _snakemake(origin, "--cores", "2", "--until", *_pretrain_rules())
    _dvc(origin, "commit", "--force")
    seen["origin_status_after_pretrain"] = _dvc(origin, "status")
    _git(origin, "add", "dvc.lock", "data.dvc")
    _git(origin, "commit", "-q", "-m", "pre-trained networks")
    _dvc(origin, "push")
    _snakemake(origin, "--cores", "2", *GRIDS)
    seen["origin_status_after_run"] = _dvc(origin, "status")
    _dvc(origin, "commit", "--force")  # the README's after-a-run step: a no-op when nothing retrained
    seen["origin_git_status"] = _git(origin, "status", "--porcelain")

    # reviewer: clone, pull, order the mtimes, run
    _git(tmp, "clone", "-q", str(origin), str(clone))
    _dvc(clone, "pull")
    seen["clone_status_after_pull"] = _dvc(clone, "status")
    # the worst checkout order: checkpoints older than the prepared data they were trained on
    earlier = time.time() - 3600
    for path in (clone / "results" / "checkpoints").rglob("*"):
        os.utime(path, (earlier, earlier))
    seen["clone_dry_run_untouched"] = _snakemake(clone, "-n")
    _snakemake(clone, "--cores", "1", "--touch", "--until", *_pretrain_rules())
    seen["clone_dry_run"] = _snakemake(clone, "-n")
    seen["clone_run"] = _snakemake(clone, "--cores", "2", *GRIDS)
    seen["clone_status_after_run"] = _dvc(clone, "status")
    seen["clone_git_status"] = _git(clone, "status", "--porcelain")
    print(f"DVC round trip: {time.monotonic() - started:.0f} s")
    return origin, clone, seen


def test_maintainer_run_leaves_dvc_clean(roundtrip):
    origin, _, seen = roundtrip
    lock = yaml.safe_load((origin / "dvc.lock").read_text())
    outs = {out["path"] for out in lock["stages"]["pretrain"]["outs"]}
    assert outs == {"resources/data", "results/checkpoints"}
    assert CLEAN in seen["origin_status_after_pretrain"]
    assert CLEAN in seen["origin_status_after_run"]
    assert seen["origin_git_status"] == ""  # dvc commit changed nothing; outputs are git-ignored


def test_pulled_checkpoints_skip_pretraining(roundtrip):
    _, clone, seen = roundtrip
    for rel in CHECKPOINTS:
        assert (clone / rel).is_file(), rel
    assert CLEAN in seen["clone_status_after_pull"]
    # without --touch, a checkout order like this one would retrain every network
    assert {"pretrain_toy_vae", "pretrain_vae", "pretrain_classifier"} <= _scheduled(seen["clone_dry_run_untouched"])
    expensive = {"prepare_toy_data", "prepare_dataset", "download_raw", *_pretrain_rules()}
    dry_run = _scheduled(seen["clone_dry_run"])  # the whole default DAG
    assert {"run_sampler", "sample_test_points", "experiment_grid"} <= dry_run
    assert not dry_run & expensive
    ran = _scheduled(seen["clone_run"])
    assert "run_sampler" in ran and not ran & expensive


def test_reviewer_gets_the_same_grids(roundtrip):
    origin, clone, seen = roundtrip
    for rel in GRIDS:
        assert (origin / rel).read_bytes() == (clone / rel).read_bytes(), rel
    assert CLEAN in seen["clone_status_after_run"]
    assert seen["clone_git_status"] == ""


def test_retraining_at_another_commit_reproduces_dvc_lock(roundtrip):
    # trained at the first commit (before dvc.lock existed), retrained here at the second one
    _, clone, _ = roundtrip
    before = {rel: (clone / rel).read_bytes() for rel in CHECKPOINTS}
    _snakemake(clone, "--cores", "2", "--force", *CHECKPOINTS)
    for rel in CHECKPOINTS:
        assert (clone / rel).read_bytes() == before[rel], rel
    assert CLEAN in _dvc(clone, "status")
