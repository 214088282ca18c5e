"""README "Bad input": every class in its table is produced here, and the message printed in the
README is checked against the real one (each code span of the "what you get" column must appear
verbatim in the output), so the table cannot drift from the code.

Workflow classes run real Snakemake on a small copy of the workflow (tiny.yaml cut down to the
UCI stand-in ``wine``); library classes call the Python API.
"""

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

import vaeinfer
from vaeinfer.data import prepare_dataset
from vaeinfer.results.io import write_netcdf

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "workflow" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ENV = {**os.environ, "PYTHONHASHSEED": "0"}
DATA = "resources/data/wine/dataset.nc"
POINTS = "resources/masks/uci/wine/mcar50.nc"
CHECKPOINT = "results/checkpoints/wine/vae.pt"
SAMPLES = "results/runs/uci/wine/mcar50/lair/seed1/samples.nc"


def readme_table() -> dict[str, list[str]]:
    """README "Bad input" table: first column -> the code spans of the "what you get" column."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Bad input\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    table = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
        spans = [m.group(2) for m in re.finditer(r"(`+)(.+?)(?<!`)\1(?!`)", cells[2])]
        table[cells[0]] = [s[1:-1] if s.startswith(" ") and s.endswith(" ") else s for s in spans]
    return table


def base_config() -> dict:
    cfg = yaml.safe_load(TINY.read_text())
    for name in ("toy_pitfalls", "mnist_gmm", "omniglot"):
        cfg["experiments"][name]["enabled"] = False
    uci = cfg["experiments"]["uci"]
    uci["seeds"] = [1]
    uci["samplers"] = {"lair": uci["samplers"]["lair"]}
    cfg["datasets"]["gas"] = {"dataset": "gas"}  # a real dataset: its raw file is downloaded
    return cfg


def copy_workflow(dest: Path, config: dict) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "environment.yml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    # --configfile deep-merges into config/config.yaml, so the test config replaces it instead
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return dest


def snakemake(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--cores", "1", *args], cwd=cwd, capture_output=True, text=True,
                          env=env or ENV, timeout=600)


def failed(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A workflow copy with the wine data prepared, its test points made and its VAE trained."""
    work = copy_workflow(tmp_path_factory.mktemp("prepared"), base_config())
    proc = snakemake(work, POINTS, CHECKPOINT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


@pytest.fixture
def work(prepared, tmp_path):
    return Path(shutil.copytree(prepared, tmp_path / "wf", symlinks=True))


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


# --- the scenarios: each returns the output the README quotes --------------------------------------


def bad_config(work: Path, edit) -> str:
    cfg = base_config()
    edit(cfg)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return failed(snakemake(work, "-n"))


def schema_violation(work: Path) -> str:
    return bad_config(work, lambda c: c["models"]["wine"].update(training={**c["models"]["wine"]["training"],
                                                                           "epochs": 0}))


def unknown_sampler(work: Path) -> str:
    return bad_config(work, lambda c: c["experiments"]["uci"]["samplers"]["lair"].update(sampler="liar"))


def unknown_option(work: Path) -> str:
    return bad_config(work, lambda c: c["experiments"]["uci"]["samplers"]["lair"]["options"].update(num_prior=1))


def unknown_sampler_python(work: Path) -> str:
    x = torch.tensor([[0.5, float("nan"), -0.2]])
    with pytest.raises(ValueError) as err:
        vaeinfer.sample(None, x, ~torch.isnan(x), "liar", num_iterations=1, generator=torch.Generator())
    return f"ValueError: {err.value}"


def missing_raw_file(work: Path) -> str:
    cwd = os.getcwd()
    os.chdir(work)  # the message names the path as given: data/...
    try:
        with pytest.raises(FileNotFoundError) as err:
            prepare_dataset("gas", raw_dir="data")
    finally:
        os.chdir(cwd)
    return f"FileNotFoundError: {err.value}"


def offline_download(work: Path) -> str:
    # an unreachable proxy makes the machine offline for urllib, whatever this one's network
    offline = {**ENV, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    out = failed(snakemake(work, "resources/data/gas/dataset.nc", env=offline))
    assert not (work / "data").exists() or not list((work / "data").rglob("*data.tar.gz*"))  # nothing partial
    return out


def checksum_mismatch(work: Path) -> str:
    raw = work / "data" / "uci_maf" / "data.tar.gz"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"not the archive")
    return failed(snakemake(work, "resources/data/gas/dataset.nc"))


def truncated_netcdf(work: Path) -> str:
    (work / DATA).write_bytes(truncated((work / DATA).read_bytes()))
    return failed(snakemake(work, POINTS))


def truncated_checkpoint(work: Path) -> str:
    (work / CHECKPOINT).write_bytes(truncated((work / CHECKPOINT).read_bytes()))
    return failed(snakemake(work, SAMPLES))


def nan_in_training_data(work: Path) -> str:
    with xr.open_dataset(work / DATA) as ds:
        ds = ds.load()
    ds["x_train"][3, 2] = np.nan
    write_netcdf(ds, work / DATA)
    return failed(snakemake(work, CHECKPOINT))


def nan_at_observed_entries(work: Path) -> str:
    with xr.open_dataset(work / POINTS) as points:
        points = points.load()
    points["x"][:] = np.nan  # every entry, observed ones included
    write_netcdf(points, work / POINTS)
    out = failed(snakemake(work, SAMPLES))
    # the Python API says the same
    x = torch.tensor([[float("nan"), 1.0, float("nan")]])
    with pytest.raises(ValueError, match=re.escape("x has NaN or infinite values at observed entries (rows [0])")):
        vaeinfer.sample(None, x, torch.tensor([[True, True, False]]), "mwg", num_iterations=1,
                        generator=torch.Generator())
    return out


#: README row -> scenario; the Python ones run in an empty directory, the workflow ones in a copy
#: of the prepared workflow
PYTHON = {
    "unknown sampler or option (Python)": unknown_sampler_python,
    "missing raw data file": missing_raw_file,
}
WORKFLOW = {
    "config schema violation": schema_violation,
    "unknown sampler": unknown_sampler,
    "unknown sampler option": unknown_option,
    "offline download": offline_download,
    "checksum mismatch": checksum_mismatch,
    "truncated netCDF file": truncated_netcdf,
    "truncated checkpoint": truncated_checkpoint,
    "NaN in the training data": nan_in_training_data,
    "NaN at observed entries": nan_at_observed_entries,
}


def check_messages(name: str, out: str) -> None:
    for message in readme_table()[name]:
        assert message in out, f"{name}: README quotes {message!r}; the run printed:\n{out[-3000:]}"


def test_the_readme_table_lists_exactly_the_tested_classes():
    table = readme_table()
    assert sorted(table) == sorted({**PYTHON, **WORKFLOW})
    assert all(table.values()), "every row quotes its message"


@pytest.mark.parametrize("name", list(PYTHON))
def test_bad_input_to_the_library_gives_the_documented_message(name, tmp_path):
    check_messages(name, PYTHON[name](tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WORKFLOW))
def test_bad_input_to_the_workflow_gives_the_documented_message(name, work):
    check_messages(name, WORKFLOW[name](work))


def test_truncated_files_through_the_library(tmp_path):
    """The readers behind the workflow's messages, without Snakemake (fast)."""
    from vaeinfer.models.checkpoints import load_checkpoint
    from vaeinfer.results.io import open_dataset

    nc, pt = tmp_path / "data.nc", tmp_path / "vae.pt"
    write_netcdf(xr.Dataset({"v": ("x", np.arange(1000.0))}), nc)
    nc.write_bytes(truncated(nc.read_bytes()))
    with pytest.raises(OSError, match=re.escape(f"{nc} is not a readable netCDF file (NetCDF: HDF error); delete")):
        open_dataset(nc)
    buffer = io.BytesIO()
    torch.save({"a": torch.zeros(1000)}, buffer)
    pt.write_bytes(truncated(buffer.getvalue()))
    with pytest.raises(OSError, match=re.escape(f"checkpoint {pt} is truncated or corrupt (PytorchStreamReader failed "
                                                "reading zip archive: failed finding central directory); delete it")):
        load_checkpoint(pt)
