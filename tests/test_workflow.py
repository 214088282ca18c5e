"""The real Snakemake workflow, end to end on tests/workflow/tiny.yaml (a minute or two)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

pytestmark = pytest.mark.slow


def _copy_workflow(dest: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "environment.yml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    shutil.copy(TINY, dest / "tiny.yaml")
    # NOTE: --configfile deep-merges into the Snakefile's configfile, so a config with fewer runs
    # would inherit the default runs; the tiny config replaces the default one instead.
    shutil.copy(TINY, dest / "config" / "config.yaml")
    return dest


def _snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = _copy_workflow(tmp_path_factory.mktemp("wf"))
    _snakemake(work, "--cores", "2", "--configfile", "tiny.yaml")
    return work


def test_lint_is_clean():
    proc = _snakemake(ROOT, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_grid_has_the_documented_structure(tiny_run):
    grid = xr.open_dataset(tiny_run / "results/grids/toy_pitfalls.nc")
    assert list(grid["sampler"].values) == [
        "pseudo_gibbs", "mwg", "ac_mwg", "lair", "lair_iterates", "importance_resampling", "ac_mwg_lair_init",
    ]
    assert list(grid["point"].values) == list(range(14))
    for var in ("jsd", "kl_pq", "kl_qp"):
        assert grid[var].dims == ("sampler", "point")
        assert bool((grid[var] >= 0).all())
    assert float(grid["jsd"].max()) <= 0.6932
    for attr in ("package_version", "torch_version", "git_commit", "config_sha256", "seed", "device"):
        assert attr in grid.attrs
    assert [str(p) for p in grid["pitfall"].sel(point=[3, 10, 5]).values] == ["I", "II", "III"]


def test_every_output_exists(tiny_run):
    for path in ("results/figures/toy_pitfalls.png", "results/figures/toy_pitfalls.pdf",
                 "results/figures/toy_ablations.png", "results/figures/toy_ablations.pdf",
                 "results/tables/toy_pitfalls.md", "results/tables/toy_pitfalls.csv",
                 "results/checkpoints/toy_grid/vae.pt", "results/checkpoints/toy_grid/training_history.csv",
                 "results/runs/toy_pitfalls/toy_grid/lair/seed1/samples.nc",
                 "results/benchmarks/rules/pretrain_toy_vae/toy_grid.tsv",
                 "results/figures/training_curves.png", "results/figures/mnist_gmm.pdf",
                 "results/figures/omniglot.png", "results/figures/uci.png", "results/tables/uci.md",
                 "results/checkpoints/wine/training_history.csv", "results/checkpoints/digits_gmm/classifier.pt"):
        assert (tiny_run / path).stat().st_size > 0, path
    samples = xr.open_dataset(tiny_run / "results/runs/toy_pitfalls/toy_grid/lair/seed1/samples.nc")
    assert samples.sizes["resample"] == 15 and samples.sizes["chain"] == 3
    warm = xr.open_dataset(tiny_run / "results/runs/toy_pitfalls/toy_grid/ac_mwg_lair_init/seed1/samples.nc")
    assert warm.attrs["num_warmup_draws"] == 4 * 2 and warm.sizes["draw"] == 1 + 4 * 2 + 15


def test_real_data_grids_have_the_documented_structure(tiny_run):
    mnist = xr.open_dataset(tiny_run / "results/grids/mnist_gmm.nc")
    assert list(mnist["sampler"].values) == ["pseudo_gibbs", "mwg", "lair", "lair_iterates"]
    for var in ("jsd", "kl_pq", "kl_qp", "fid_classifier", "fid_encoder"):
        assert mnist[var].dims == ("sampler", "seed", "point"), var
    assert bool((mnist["jsd"] >= 0).all()) and float(mnist["jsd"].max()) <= 0.6932
    assert mnist["class_posterior"].dims == ("sampler", "seed", "point", "component")
    np.testing.assert_allclose(mnist["true_class_posterior"].sum("component"), 1.0, rtol=1e-9)
    assert list(mnist["num_observed"].values) == [4, 5, 4]
    omniglot = xr.open_dataset(tiny_run / "results/grids/omniglot.nc")
    assert omniglot["fid"].dims == ("sampler", "missingness", "seed", "imputation")
    assert omniglot["f1"].dims == ("sampler", "missingness", "seed")
    assert list(omniglot["missingness"].values) == ["quadrants1", "quadrants3"]
    assert omniglot.sizes["imputation"] == 3  # 3 chains / 3 final draws; LAIR's iterates use 2 (NaN-padded)
    assert bool(omniglot["fid"].sel(sampler="lair_iterates", imputation=2).isnull().all())
    uci = xr.open_dataset(tiny_run / "results/grids/uci.nc")
    assert uci["sinkhorn"].dims == ("sampler", "dataset", "seed", "imputation")
    assert list(uci["dataset"].values) == ["wine"] and str(uci["dataset_kind"].values[0]) == "stand-in"
    for grid in (mnist, omniglot, uci):
        assert "method" not in grid.dims
        assert "git_commit" in grid.attrs and "config_sha256" in grid.attrs
    assert "stand-in" in (tiny_run / "results/tables/uci.md").read_text()
    assert "stand-in" in (tiny_run / "results/tables/mnist_gmm.md").read_text()


def test_same_config_same_bytes(tiny_run, tmp_path):
    again = _copy_workflow(tmp_path)
    _snakemake(again, "--cores", "2", "--configfile", "tiny.yaml")
    for rel in ("results/grids/toy_pitfalls.nc", "results/runs/toy_pitfalls/toy_grid/ac_mwg/seed1/samples.nc",
                "results/checkpoints/toy_grid/vae.pt", "results/figures/toy_pitfalls.png",
                "results/figures/toy_ablations.png",
                "results/tables/toy_pitfalls.csv",
                "results/grids/mnist_gmm.nc", "results/grids/omniglot.nc", "results/grids/uci.nc",
                "results/checkpoints/digits_gmm/vae.pt", "results/checkpoints/digits_gmm/classifier.pt",
                "results/figures/uci.png", "results/tables/omniglot.csv"):
        assert (tiny_run / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_report_builds(tiny_run):
    _snakemake(tiny_run, "--configfile", "tiny.yaml", "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="ignore")
    assert "toy_pitfalls.png" in html and "Pitfall" in html
    for item in ("claims.csv", "software.csv", "config.yaml", "mnist_gmm.png", "uci.png", "training_curves.png",
                 "MNIST-GMM figure", "claim checker"):
        assert item in html, item


def test_claims_table_reports_every_claim(tiny_run):
    from vaeinfer.claims import load_claims

    table = (tiny_run / "results/tables/claims.csv").read_text()
    claims = load_claims(ROOT / "workflow" / "claims.yaml")
    assert all(c.id in table for c in claims)
    text = (tiny_run / "results/tables/claims.md").read_text()
    assert "not run" in text and "stand-ins" in text  # the tiny config lacks most runs; nothing is hidden
    software = (tiny_run / "results/provenance/software.csv").read_text()
    assert "torch," in software and "git commit," in software


def test_changing_a_sampler_setting_does_not_retrain(tiny_run):
    cfg = yaml.safe_load((tiny_run / "tiny.yaml").read_text())
    cfg["experiments"]["toy_pitfalls"]["samplers"]["lair"]["num_iterations"] = 6
    (tiny_run / "tiny_changed.yaml").write_text(yaml.safe_dump(cfg))
    out = _snakemake(tiny_run, "-n", "--configfile", "tiny_changed.yaml").stdout
    assert "run_sampler" in out
    assert "pretrain_toy_vae" not in out and "prepare_toy_data" not in out


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c["experiments"]["toy_pitfalls"]["samplers"]["mwg"].update(sampler="mwgg"),
         "unknown sampler 'mwgg'"),
        (lambda c: c["experiments"]["toy_pitfalls"]["samplers"]["lair"]["options"].update(num_prior=1),
         "unknown option 'num_prior'"),
        (lambda c: c["models"]["toy_grid"]["training"].update(epochs=0), "0 is less than the minimum of 1"),
        (lambda c: c.update(device="tpu"), "'tpu' is not one of"),
        (lambda c: c["experiments"]["toy_pitfalls"]["figures"]["ablations"].update(LAIR=["lair", "lair_eps9"]),
         "names ['lair_eps9'], which are not runs"),
        (lambda c: c["experiments"]["toy_pitfalls"]["samplers"]["ac_mwg_lair_init"]["warmup"].update(group_size=4),
         "group_size=4 must divide"),
        (lambda c: c["experiments"]["uci"]["samplers"]["lair"]["options"].update(num_prior=1),
         "experiments.uci.samplers.lair.options: unknown option 'num_prior'"),
        (lambda c: c["experiments"]["uci"].update(datasets=["wines"]), "uses datasets ['wines'], which have no entry"),
        (lambda c: c["datasets"].update(mnist=c["datasets"]["wine"]), "datasets ['mnist'] are not known"),
        (lambda c: c["experiments"]["omniglot"].update(missingness=["quadrants4"]), "'quadrants4' is not one of"),
        (lambda c: c["models"]["wine"].update(latent_dims=3), "Additional properties are not allowed"),
    ],
)
def test_bad_config_fails_before_any_job_with_a_clear_message(tmp_path, edit, message):
    work = _copy_workflow(tmp_path)
    cfg = yaml.safe_load(TINY.read_text())
    edit(cfg)
    (work / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = _snakemake(work, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (work / "results").exists()
