"""Offline stand-ins for the real-data experiments, built from scikit-learn's bundled data sets.

They let the default (CPU, offline) profile run every experiment family end to end. Each is named
as a stand-in and records what it stands in for; none of them claims the paper's numbers.

============== ========================================== ===================== ==============
stand-in       built from                                 stands in for         likelihood
============== ========================================== ===================== ==============
digits_gmm     8x8 digits (0..16), MNIST-GMM recipe       mnist_gmm (§2.2)      gaussian
binary_digits  8x8 digits / 16, stochastic binarisation   omniglot (§2.3)       bernoulli
breast_cancer  Wisconsin breast cancer, 30 features       uci (§2.4)            gaussian
wine           wine recognition, 13 features              uci (§2.4)            gaussian
============== ========================================== ===================== ==============

Section numbers refer to ``reference/seed000.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.config import ConfigError
from vaeinfer.data.gmm import build_class_gmm
from vaeinfer.data.prepared import (
    check_fractions,
    coerce_config,
    fraction_split_sizes,
    maf_split_sizes,
    prepared_dataset,
)

__all__ = [
    "BinaryDigitsConfig",
    "DigitsGMMConfig",
    "TabularConfig",
    "binarise",
    "binary_digits",
    "digits_gmm",
    "tabular",
]

TabularName = Literal["breast_cancer", "wine"]


@dataclass(frozen=True)
class DigitsGMMConfig:
    """Stand-in for MNIST-GMM: the same construction on scikit-learn's 8x8 digits.

    Attributes:
        seed: seed of the dequantisation noise and of the sampling (derived streams).
        num_train, num_val, num_test: number of points sampled from the fitted mixture per split.
        alpha: the logit transform's squeeze, y = logit(alpha + (1 - 2 alpha) x).
    """

    seed: int = 0
    num_train: int = 10000
    num_val: int = 1000
    num_test: int = 2000
    alpha: float = 0.15

    def __post_init__(self) -> None:
        for name in ("num_train", "num_val", "num_test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DigitsGMMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.alpha < 0.5:
            raise ConfigError(f"DigitsGMMConfig.alpha must lie in (0, 0.5), got {self.alpha}")


@dataclass(frozen=True)
class BinaryDigitsConfig:
    """Stand-in for Omniglot: binarised 8x8 digits.

    Attributes:
        seed: seed of the binarisation and of the permutation (derived streams).
        train_fraction, val_fraction, test_fraction: split fractions (floor for train and val,
            the rest is test); they must sum to 1.
    """

    seed: int = 0
    train_fraction: float = 0.75
    val_fraction: float = 0.05
    test_fraction: float = 0.20

    def __post_init__(self) -> None:
        check_fractions("BinaryDigitsConfig", self.train_fraction, self.val_fraction, self.test_fraction)


@dataclass(frozen=True)
class TabularConfig:
    """Stand-in for the UCI benchmarks: a small tabular data set, split in MAF's order.

    Attributes:
        seed: seed of the row shuffle.
        test_fraction: the last int(test_fraction N) shuffled rows are the test set.
        val_fraction: the last int(val_fraction M) of the M remaining rows are the validation set.
    """

    seed: int = 0
    test_fraction: float = 0.25
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("test_fraction", "val_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"TabularConfig.{name} must lie in [0, 1), got {getattr(self, name)}")


def _generator(*parts: object) -> torch.Generator:
    return vrandom.make_generator(vrandom.derive_seed(*parts))


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.int64), bunch.target.astype(np.int64)  # (1797, 8, 8) in 0..16


def binarise(intensities: np.ndarray, *, generator: torch.Generator) -> np.ndarray:
    """Fixed stochastic binarisation: pixel = 1 where ``u < p``, ``u ~ U(0, 1)`` i.i.d., as float32.

    ``P(pixel = 1) = p`` exactly. Draws lie in [0, 1), so the strict inequality never lights a
    pixel of intensity 0 (with ``u <= p``, a draw of exactly 0 would), and binary inputs are
    returned unchanged.
    """
    p = torch.as_tensor(np.asarray(intensities, dtype=np.float32))
    if p.numel() and (float(p.min()) < 0 or float(p.max()) > 1):
        raise ValueError("binarise expects intensities in [0, 1]")
    u = vrandom.uniform(tuple(p.shape), generator=generator, like=p)
    return (u < p).to(torch.float32).numpy()


def digits_gmm(config: DigitsGMMConfig | Mapping[str, Any] | None = None) -> xr.Dataset:
    """The MNIST-GMM construction (seed000.md §2.2) on the 1,797 8x8 digits (17 grey levels).

    Dequantise with 17 levels, ``x = (k + u) / 17``; logit transform ``logit(0.15 + 0.7 x)``;
    fit one full-covariance Gaussian per digit (64-D; about 180 images per class); sample
    ``num_train`` / ``num_val`` / ``num_test`` points with their component labels. The same
    functions build MNIST-GMM (:mod:`vaeinfer.data.mnist`). All arrays are in logit space.
    """
    config = coerce_config(DigitsGMMConfig, config)
    images, labels = _load_digits()
    splits = build_class_gmm(
        images, labels, num_levels=17, num_classes=10, alpha=config.alpha,
        sizes={"train": config.num_train, "val": config.num_val, "test": config.num_test},
        seed=config.seed, stream="digits_gmm",
    )  # fmt: skip
    return prepared_dataset(
        name="digits_gmm", kind="stand-in", stands_in_for="mnist_gmm", likelihood="gaussian",
        image_shape=(8, 8), config=config, x=splits.x, labels=splits.labels, gmm=splits.mixture,
        description=(
            "Stand-in for MNIST-GMM: a 10-component full-covariance Gaussian mixture fitted to the logit "
            "transform logit(alpha + (1 - 2 alpha) x) of dequantised scikit-learn 8x8 digits, and samples "
            "from it (logit space)."
        ),
    )  # fmt: skip


def binary_digits(config: BinaryDigitsConfig | Mapping[str, Any] | None = None) -> xr.Dataset:
    """Binarised 8x8 digits, the Omniglot stand-in (recipe of seed000.md §2.3 at 8x8).

    Intensities ``k / 16`` are binarised once (:func:`binarise`, stream ``(seed, "binary_digits",
    "binarise")``), the images permuted (``torch.randperm``, stream ``(seed, "binary_digits",
    "permute")``), and split into consecutive train / val / test blocks by the fractions.
    Labels are the digit classes.
    """
    config = coerce_config(BinaryDigitsConfig, config)
    images, labels = _load_digits()
    x = images.reshape(images.shape[0], -1).astype(np.float32) / 16.0
    binary = binarise(x, generator=_generator(config.seed, "binary_digits", "binarise"))
    order = torch.randperm(binary.shape[0], generator=_generator(config.seed, "binary_digits", "permute")).numpy()
    binary, labels = binary[order], labels[order]
    n_train, n_val, _ = fraction_split_sizes(binary.shape[0], config.train_fraction, config.val_fraction)
    bounds = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val), "test": slice(n_train + n_val, None)}
    return prepared_dataset(
        name="binary_digits", kind="stand-in", stands_in_for="omniglot", likelihood="bernoulli",
        image_shape=(8, 8), config=config,
        x={s: binary[b] for s, b in bounds.items()}, labels={s: labels[b] for s, b in bounds.items()},
        description=(
            "Stand-in for binarised Omniglot: scikit-learn 8x8 digits scaled to [0, 1] and binarised once "
            "with seeded uniforms (pixel = 1 where u < intensity)."
        ),
    )  # fmt: skip


_TABULAR = {
    "breast_cancer": ("load_breast_cancer", "Wisconsin diagnostic breast cancer (569 rows, 30 features)"),
    "wine": ("load_wine", "wine recognition (178 rows, 13 features)"),
}


def tabular(name: str, config: TabularConfig | Mapping[str, Any] | None = None) -> xr.Dataset:
    """A bundled tabular data set as a UCI stand-in, split and standardised in MAF's order (seed000.md §2.4).

    Rows are shuffled (``torch.randperm``, stream ``(seed, name, "shuffle")``); the test set is
    the last ``int(test_fraction N)`` rows, the validation set the last ``int(val_fraction M)`` of
    the ``M`` rows left; every split is standardised with the training split's mean and
    (population) standard deviation; a constant training feature keeps scale 1. Class labels are
    dropped: the UCI data sets have none.
    """
    if name not in _TABULAR:
        raise ConfigError(f"unknown tabular stand-in {name!r}; valid names: {', '.join(sorted(_TABULAR))}")
    config = coerce_config(TabularConfig, config, where=name)
    import sklearn.datasets

    loader, what = _TABULAR[name]
    data = getattr(sklearn.datasets, loader)().data.astype(np.float64)
    order = torch.randperm(data.shape[0], generator=_generator(config.seed, name, "shuffle"))
    data = data[order.numpy()]
    n_train, n_val, _ = maf_split_sizes(data.shape[0], config.test_fraction, config.val_fraction)
    parts = {"train": data[:n_train], "val": data[n_train : n_train + n_val], "test": data[n_train + n_val :]}
    mean = parts["train"].mean(axis=0)
    std = parts["train"].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return prepared_dataset(
        name=name, kind="stand-in", stands_in_for="uci", likelihood="gaussian", image_shape=None, config=config,
        x={s: (v - mean) / std for s, v in parts.items()},
        description=f"Stand-in for the UCI benchmarks: scikit-learn's {what}, standardised with training statistics.",
    )  # fmt: skip
