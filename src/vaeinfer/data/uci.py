"""The MAF density-estimation benchmarks GAS, POWER, HEPMASS, MINIBOONE and BSDS300 (seed000.md §2.4).

Raw input: Papamakarios' archive of the preprocessed data (Zenodo record 1161203,
``data.tar.gz``, about 857 MB). Its md5 is the value that independent public download scripts of
this archive check (it could not be re-derived offline here). Files used inside the archive::

    data/gas/ethylene_CO.pickle      data/power/data.npy         data/miniboone/data.npy
    data/hepmass/1000_train.csv      data/hepmass/1000_test.csv  data/BSDS300/BSDS300.hdf5

:func:`prepare` reads a data set's files straight from the archive (one streaming pass, nothing
written to disk), or from ``<raw_dir>/data/<dir>/...`` when the archive was unpacked there by hand.

The five recipes are the MAF paper's, written from their description (N = rows; "split" means
test = the last int(0.1 N) rows, val = the last int(0.1 M) of the M rows left, train = the rest,
:func:`~vaeinfer.data.prepared.maf_split_sizes`):

* GAS (D = 8): the ethylene-CO data frame without columns Meth, Eth and Time; while some column
  has more than one correlation > 0.98 with the columns (itself included), drop the first such
  column and recompute; standardise every row with the mean and standard deviation (ddof = 1) of
  the whole table; split.
* POWER (D = 6): ``RandomState(42)`` shuffles the rows; delete column 3, then column 1; add
  uniform noise per column (global active power 0.001 u, voltage 0.01 u, sub-meterings 1-3
  u, time 0), where, as in MAF's stream, the voltage column's (N, 1) uniforms are drawn first,
  then the power column's (N, 1), then the sub-meterings' (N, 3); split; standardise with the
  mean and standard deviation (ddof = 0) of train + val.
* HEPMASS (D = 21): the rows of ``1000_train.csv`` and ``1000_test.csv`` whose first column
  (the label) is 1, without that column; the test file's extra last column is dropped;
  standardise with the training file's mean and standard deviation (ddof = 1); drop features
  with a value repeated more than 5 times in the training file (see ``hepmass_repeat_rule``);
  val = the last int(0.1 N) rows of the training file.
* MINIBOONE (D = 43): the already-cleaned ``data.npy``; split; standardise with train + val
  (ddof = 0).
* BSDS300 (D = 63): the ``train`` / ``validation`` / ``test`` arrays of the hdf5 file, as they are.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from vaeinfer.config import ConfigError
from vaeinfer.data.download import RemoteFile, require_file
from vaeinfer.data.prepared import coerce_config, maf_split_sizes, prepared_dataset

__all__ = ["DATASET_NAMES", "MEMBERS", "REMOTE_FILES", "UCIConfig", "extracted_files", "prepare"]

# md5 of https://zenodo.org/records/1161203/files/data.tar.gz as checked by two independent public
# download scripts of the archive; not re-derived here (no network): compare with the md5 Zenodo shows
# on the record page when online.
MAF_ARCHIVE_MD5 = "9b9c9b0375315ad270eba4ce80c093ab"
REMOTE_FILES: list[RemoteFile] = [
    RemoteFile("data.tar.gz", "https://zenodo.org/records/1161203/files/data.tar.gz?download=1",
               f"md5:{MAF_ARCHIVE_MD5}", 857_000_000),  # size approximate
]  # fmt: skip

DatasetName = Literal["gas", "power", "hepmass", "miniboone", "bsds300"]
DATASET_NAMES: tuple[str, ...] = ("gas", "power", "hepmass", "miniboone", "bsds300")
MEMBERS: dict[str, tuple[str, ...]] = {
    "gas": ("data/gas/ethylene_CO.pickle",),
    "power": ("data/power/data.npy",),
    "hepmass": ("data/hepmass/1000_train.csv", "data/hepmass/1000_test.csv"),
    "miniboone": ("data/miniboone/data.npy",),
    "bsds300": ("data/BSDS300/BSDS300.hdf5",),
}
_DIMS = {"gas": 8, "power": 6, "hepmass": 21, "miniboone": 43, "bsds300": 63}


@dataclass(frozen=True)
class UCIConfig:
    """Which MAF data set to prepare.

    Attributes:
        dataset: one of gas, power, hepmass, miniboone, bsds300.
        hepmass_repeat_rule: which count decides that a HEPMASS feature has "too many repeated
            values" (> 5). ``"smallest_value"`` (default) counts the occurrences of the feature's
            smallest value, which is what MAF's released code computes (it sorts the value counts
            by value and takes the first) and hence what produced the published D = 21 data;
            ``"most_frequent"`` counts the most frequent value, the rule as the papers describe it.
    """

    dataset: DatasetName
    hepmass_repeat_rule: Literal["smallest_value", "most_frequent"] = "smallest_value"


def extracted_files(raw_dir: str | os.PathLike[str], dataset: str) -> list[Path] | None:
    """The data set's files under ``raw_dir/data/...`` if the archive was unpacked there, else None."""
    paths = [Path(raw_dir) / member for member in MEMBERS[dataset]]
    return paths if all(p.is_file() for p in paths) else None


def _read_members(raw_dir: Path, dataset: str) -> dict[str, io.BytesIO]:
    """The data set's files as in-memory buffers, keyed by their name in :data:`MEMBERS`."""
    extracted = extracted_files(raw_dir, dataset)
    if extracted is not None:
        return {m: io.BytesIO(p.read_bytes()) for m, p in zip(MEMBERS[dataset], extracted, strict=True)}
    archive = require_file(REMOTE_FILES[0], raw_dir)
    wanted = set(MEMBERS[dataset])
    found: dict[str, io.BytesIO] = {}
    try:
        with tarfile.open(archive, "r|gz") as tf:  # streaming: one sequential pass, no seeking
            for member in tf:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    source = tf.extractfile(member)
                    assert source is not None
                    found[name] = io.BytesIO(source.read())
                    if len(found) == len(wanted):
                        break
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{archive} is not a readable .tar.gz archive ({err}); delete and download it again") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"{archive} lacks {missing}; is it the MAF archive from Zenodo record 1161203?")
    return found


def _split(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_train, n_val, _ = maf_split_sizes(data.shape[0])
    return data[:n_train], data[n_train : n_train + n_val], data[n_train + n_val :]


def _standardise_with_train_val(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, ...]:
    both = np.vstack((train, val))
    mu, s = both.mean(axis=0), both.std(axis=0)
    return tuple((a - mu) / s for a in (train, val, test))


def _gas(files: dict[str, io.BytesIO]) -> tuple[np.ndarray, ...]:
    import pandas as pd

    (buffer,) = files.values()
    try:
        frame = pd.read_pickle(buffer)
    except Exception as err:  # old pickles can fail in many ways with a newer pandas
        raise ValueError(
            f"cannot unpickle gas/ethylene_CO.pickle with pandas {pd.__version__} ({type(err).__name__}: {err}); "
            "it was written by an old pandas: load it once with pandas < 2 and save it again with to_pickle"
        ) from None
    frame = frame.drop(columns=["Meth", "Eth", "Time"])
    while True:
        counts = (frame.corr() > 0.98).sum(axis=1).to_numpy()
        if not (counts > 1).any():
            break
        frame = frame.drop(columns=frame.columns[int(np.argmax(counts > 1))])
    frame = (frame - frame.mean()) / frame.std()
    return _split(frame.to_numpy(dtype=np.float64))


def _power(files: dict[str, io.BytesIO]) -> tuple[np.ndarray, ...]:
    (buffer,) = files.values()
    data = np.load(buffer)  # kept in its stored dtype, as MAF does (its in-place noise add keeps it too)
    if data.ndim != 2 or data.shape[1] != 8 or not np.issubdtype(data.dtype, np.floating):
        raise ValueError(f"power/data.npy must be a float matrix with 8 columns, got {data.dtype} {data.shape}")
    rng = np.random.RandomState(42)  # the recipe's fixed stream
    rng.shuffle(data)
    n = data.shape[0]
    data = np.delete(np.delete(data, 3, axis=1), 1, axis=1)
    voltage = 0.01 * rng.rand(n, 1)
    active_power = 0.001 * rng.rand(n, 1)
    sub_meterings = rng.rand(n, 3)
    data += np.hstack((active_power, voltage, sub_meterings, np.zeros((n, 1))))
    return _standardise_with_train_val(*_split(data))


def _repeat_count(values: np.ndarray, rule: str) -> int:
    counts = Counter(values.tolist())
    if rule == "smallest_value":
        return counts[min(counts)]
    return max(counts.values())


def _hepmass(files: dict[str, io.BytesIO], rule: str) -> tuple[np.ndarray, ...]:
    import pandas as pd

    train_file, test_file = files.values()
    train = pd.read_csv(train_file, index_col=False)
    test = pd.read_csv(test_file, index_col=False)
    train = train[train.iloc[:, 0] == 1].iloc[:, 1:]
    test = test[test.iloc[:, 0] == 1].iloc[:, 1:-1]  # the test file has one extra last column
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"hepmass: after dropping the label and the test file's last column, train has {train.shape[1]} "
            f"features and test {test.shape[1]}; expected the same"
        )
    train_values = train.to_numpy(dtype=np.float64)
    # Counting repeats on the raw values is the same as on the standardised ones (an increasing
    # affine map), and also drops constant features instead of turning them into NaN.
    keep = [j for j in range(train_values.shape[1]) if _repeat_count(train_values[:, j], rule) <= 5]
    mu, s = train.mean().to_numpy()[keep], train.std().to_numpy()[keep]
    train_std = (train_values[:, keep] - mu) / s
    test_std = (test.to_numpy(dtype=np.float64)[:, keep] - mu) / s
    n_val = int(0.1 * train_std.shape[0])
    return train_std[:-n_val] if n_val else train_std, train_std[train_std.shape[0] - n_val :], test_std


def _miniboone(files: dict[str, io.BytesIO]) -> tuple[np.ndarray, ...]:
    (buffer,) = files.values()
    data = np.load(buffer)
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.floating):
        raise ValueError(f"miniboone/data.npy must be a float matrix, got {data.dtype} {data.shape}")
    return _standardise_with_train_val(*_split(data))


def _bsds300(files: dict[str, io.BytesIO]) -> tuple[np.ndarray, ...]:
    import h5py

    (buffer,) = files.values()
    with h5py.File(buffer, "r") as f:
        missing = [k for k in ("train", "validation", "test") if k not in f]
        if missing:
            raise ValueError(f"BSDS300/BSDS300.hdf5 lacks the datasets {missing}")
        return tuple(np.asarray(f[k], dtype=np.float32) for k in ("train", "validation", "test"))


def prepare(raw_dir: str | os.PathLike[str], config: UCIConfig | Mapping[str, Any]) -> xr.Dataset:
    """Build one MAF data set (``config.dataset``) from the raw archive in ``raw_dir``."""
    config = coerce_config(UCIConfig, config)
    raw_dir = Path(raw_dir)
    files = _read_members(raw_dir, config.dataset)
    if config.dataset == "gas":
        parts = _gas(files)
    elif config.dataset == "power":
        parts = _power(files)
    elif config.dataset == "hepmass":
        parts = _hepmass(files, config.hepmass_repeat_rule)
    elif config.dataset == "miniboone":
        parts = _miniboone(files)
    elif config.dataset == "bsds300":
        parts = _bsds300(files)
    else:  # pragma: no cover - the Literal type already rejects other names
        raise ConfigError(f"unknown UCI data set {config.dataset!r}; valid: {', '.join(DATASET_NAMES)}")
    x = dict(zip(("train", "val", "test"), parts, strict=True))
    dim = x["train"].shape[1]
    note = "" if dim == _DIMS[config.dataset] else f" (the MAF data have D = {_DIMS[config.dataset]})"
    return prepared_dataset(
        name=config.dataset, kind="real", stands_in_for="", likelihood="gaussian", image_shape=None,
        config=config, x=x,
        description=f"{config.dataset.upper()} from the MAF benchmark archive, MAF preprocessing; D = {dim}{note}.",
    )  # fmt: skip
