"""Datasets: synthetic generators with their true parameters, offline stand-ins and the real data sets.

:data:`DATASETS` maps a name to a :class:`DatasetSpec`; :func:`prepare_dataset` builds the
prepared-dataset format (:mod:`vaeinfer.data.prepared`) from it.

======================  ========  ==============  ====================================
name                    kind      stands in for   raw files (under ``raw_dir``)
======================  ========  ==============  ====================================
digits_gmm              stand-in  mnist_gmm       none (scikit-learn)
binary_digits           stand-in  omniglot        none (scikit-learn)
breast_cancer, wine     stand-in  uci             none (scikit-learn)
mnist_gmm               real                      ``mnist/``: MNIST training IDX files
omniglot                real                      ``omniglot/``: the two Omniglot zips
gas, power, hepmass,    real                      ``uci_maf/data.tar.gz`` (MAF archive)
miniboone, bsds300
======================  ========  ==============  ====================================

Real data sets need their raw files: :func:`download_dataset` fetches and verifies them, or place
them by hand (the error message of :func:`prepare_dataset` says where and with which checksum).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import xarray as xr

from vaeinfer.config import ConfigError, to_dict
from vaeinfer.data import mnist, omniglot, standins, uci
from vaeinfer.data.download import RemoteFile, fetch, require_file, verify_file
from vaeinfer.data.prepared import coerce_config
from vaeinfer.data.toy import GaussianMixture, grid_mixture, sample_mixture

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "GaussianMixture",
    "download_dataset",
    "grid_mixture",
    "prepare_dataset",
    "sample_mixture",
]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set.

    Attributes:
        name: registry name (also the ``name`` attribute of the prepared Dataset).
        kind: ``"stand-in"`` (offline, from scikit-learn) or ``"real"`` (needs raw files).
        stands_in_for: what a stand-in replaces (``"mnist_gmm"``, ``"omniglot"``, ``"uci"``); ``""`` for real data.
        remote_files: the raw files a real data set needs (empty for stand-ins).
        prepare: ``prepare(raw_dir, config) -> xr.Dataset``; ``raw_dir`` is the directory holding
            ``remote_files`` (``<raw_dir of prepare_dataset>/<raw_subdir>``).
        config_class: the frozen config dataclass ``prepare`` takes.
        raw_subdir: sub-directory of the raw-data root holding ``remote_files``.
        config_fixed: config entries implied by the name (e.g. ``dataset: gas``), which a user
            config may repeat but not contradict.
        raw_ready: optional ``raw_ready(raw_dir) -> bool``: True when the data can be read without
            ``remote_files`` (e.g. the MAF archive already unpacked by hand).
    """

    name: str
    kind: Literal["stand-in", "real"]
    stands_in_for: str
    remote_files: tuple[RemoteFile, ...]
    prepare: Callable[[Path, Any], xr.Dataset]
    config_class: type
    raw_subdir: str = ""
    config_fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    raw_ready: Callable[[Path], bool] | None = None

    def build_config(self, config: Any = None) -> Any:
        """``config`` (None, a mapping or a ``config_class`` instance) as a validated ``config_class``."""
        where = f"datasets.{self.name}"
        values = to_dict(config) if dataclasses.is_dataclass(config) else dict(config or {})
        for key, fixed in self.config_fixed.items():
            if values.setdefault(key, fixed) != fixed:
                raise ConfigError(f"{where}.{key} must be {fixed!r} for dataset {self.name!r}, got {values[key]!r}")
        if dataclasses.is_dataclass(config) and not isinstance(config, self.config_class):
            raise ConfigError(f"{where}: expected a {self.config_class.__name__}, got {type(config).__name__}")
        return coerce_config(self.config_class, values, where=where)


def _stand_in(name: str, stands_in_for: str, build: Callable[[Any], xr.Dataset], config_class: type) -> DatasetSpec:
    return DatasetSpec(name, "stand-in", stands_in_for, (), lambda raw_dir, config: build(config), config_class)


def _tabular(name: str) -> DatasetSpec:
    return _stand_in(name, "uci", lambda config: standins.tabular(name, config), standins.TabularConfig)


def _uci(name: str) -> DatasetSpec:
    return DatasetSpec(
        name, "real", "", tuple(uci.REMOTE_FILES), uci.prepare, uci.UCIConfig, raw_subdir="uci_maf",
        config_fixed={"dataset": name}, raw_ready=lambda raw_dir: uci.extracted_files(raw_dir, name) is not None,
    )  # fmt: skip


DATASETS: dict[str, DatasetSpec] = {
    "digits_gmm": _stand_in("digits_gmm", "mnist_gmm", standins.digits_gmm, standins.DigitsGMMConfig),
    "binary_digits": _stand_in("binary_digits", "omniglot", standins.binary_digits, standins.BinaryDigitsConfig),
    "breast_cancer": _tabular("breast_cancer"),
    "wine": _tabular("wine"),
    "mnist_gmm": DatasetSpec(
        "mnist_gmm", "real", "", tuple(mnist.REMOTE_FILES), mnist.prepare, mnist.MnistGMMConfig, raw_subdir="mnist"
    ),
    "omniglot": DatasetSpec(
        "omniglot", "real", "", tuple(omniglot.REMOTE_FILES), omniglot.prepare, omniglot.OmniglotConfig,
        raw_subdir="omniglot",
    ),
    **{name: _uci(name) for name in uci.DATASET_NAMES},
}


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}") from None


def _download_command(name: str, raw_root: Path, path: Path) -> str:
    return (
        f"`snakemake {path}` (the workflow's download_raw rule) or "
        f"`python -c \"from vaeinfer.data import download_dataset; download_dataset('{name}', '{raw_root}')\"`"
    )


def prepare_dataset(
    name: str, config: Any = None, raw_dir: str | os.PathLike[str] = "data", *, verify: bool = True
) -> xr.Dataset:
    """Prepare the registered data set ``name`` (see :mod:`vaeinfer.data.prepared` for the format).

    Args:
        name: a key of :data:`DATASETS` (unknown names raise :class:`~vaeinfer.config.ConfigError`).
        config: None, a mapping (unknown keys are rejected) or the data set's config dataclass.
        raw_dir: root of the raw inputs; a real data set reads ``<raw_dir>/<raw_subdir>/<file>``.
        verify: check the raw files' checksums before reading them.

    Raises:
        FileNotFoundError: a real data set's raw file is missing; the message names the file, its
            URL, its checksum and the download command.
        ~vaeinfer.data.download.ChecksumError: a raw file has the wrong checksum.
    """
    spec = _spec(name)
    built = spec.build_config(config)
    directory = Path(raw_dir) / spec.raw_subdir
    if spec.kind == "real" and not (spec.raw_ready is not None and spec.raw_ready(directory)):
        for remote in spec.remote_files:
            how = _download_command(name, Path(raw_dir), directory / remote.filename)
            path = require_file(remote, directory, how=how)
            if verify:
                verify_file(remote, path)
    return spec.prepare(directory, built)


def download_dataset(
    name: str, raw_dir: str | os.PathLike[str] = "data", *, timeout: float = 60, progress: bool = True
) -> list[Path]:
    """Fetch and verify the raw files of ``name`` into ``<raw_dir>/<raw_subdir>`` (nothing for stand-ins)."""
    spec = _spec(name)
    directory = Path(raw_dir) / spec.raw_subdir
    return [fetch(remote, directory, timeout=timeout, progress=progress) for remote in spec.remote_files]
