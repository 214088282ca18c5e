"""The prepared-dataset format shared by every dataset (stand-in or real), and split helpers.

Every ``prepare`` function returns an :class:`xarray.Dataset` with

* data variables ``x_train (train_index, feature)``, ``x_val (val_index, feature)``,
  ``x_test (test_index, feature)``, float32; images flattened row-major;
* ``label_train`` / ``label_val`` / ``label_test`` (int64, on the same index dims) when the data
  have labels (the GMM component, the digit class, the Omniglot character);
* ``feature_min`` and ``feature_max`` on ``(feature,)``, taken from the training split (clipping);
* for Gaussian-mixture datasets the true mixture the data were sampled from: ``gmm_weights
  (component,)``, ``gmm_means (component, feature)``, ``gmm_covariances (component, feature,
  feature_b)``, float64;
* attributes (netCDF-safe): ``name``, ``kind`` (``"stand-in"`` or ``"real"``), ``stands_in_for``
  (``""`` for real data), ``likelihood`` (``"gaussian"`` or ``"bernoulli"``),
  ``image_shape_json`` (e.g. ``"[8, 8]"``; ``""`` for tabular data), ``description`` and
  ``config_json``.

:func:`check_prepared` validates a Dataset against this description.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from vaeinfer.config import ConfigError, from_dict, to_dict
from vaeinfer.results.io import netcdf_safe_attrs

__all__ = [
    "SPLITS",
    "check_fractions",
    "check_prepared",
    "coerce_config",
    "fraction_split_sizes",
    "maf_split_sizes",
    "prepared_dataset",
]

SPLITS = ("train", "val", "test")
_ATTRS = ("name", "kind", "stands_in_for", "likelihood", "image_shape_json", "description", "config_json")

C = TypeVar("C")


def coerce_config(cls: type[C], config: C | Mapping[str, Any] | None, *, where: str | None = None) -> C:
    """``config`` as a ``cls`` instance: instances pass through, mappings (or None) go through from_dict."""
    if isinstance(config, cls):
        return config
    if config is None or isinstance(config, Mapping):
        return from_dict(cls, config, where=where)
    raise ConfigError(f"{where or cls.__name__} must be a {cls.__name__} or a mapping, got {type(config).__name__}")


def check_fractions(where: str, train: float, val: float, test: float) -> None:
    """ConfigError unless the three split fractions are in [0, 1], train > 0 and they sum to 1."""
    for name, value in (("train_fraction", train), ("val_fraction", val), ("test_fraction", test)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{where}.{name} must lie in [0, 1], got {value}")
    if train <= 0:
        raise ConfigError(f"{where}.train_fraction must be > 0, got {train}")
    if not math.isclose(train + val + test, 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"{where}: train_fraction + val_fraction + test_fraction must be 1, got {train} + {val} + {test} "
            f"= {train + val + test}"
        )


def fraction_split_sizes(n: int, train_fraction: float, val_fraction: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) = (floor(f_train n), floor(f_val n), the rest), in that order of rows.

    For Omniglot's 32,460 images and 84.4 / 0.6 / 15.0 % this gives 27,396 / 194 / 4,870 (seed000.md §2.3).
    A tiny epsilon guards against products such as 0.994 * 60000 = 59639.999... being floored down.
    """
    n_train = int(math.floor(train_fraction * n + 1e-9))
    n_val = int(math.floor(val_fraction * n + 1e-9))
    n_val = min(n_val, n - n_train)
    return n_train, n_val, n - n_train - n_val


def maf_split_sizes(n: int, test_fraction: float = 0.1, val_fraction: float = 0.1) -> tuple[int, int, int]:
    """MAF's split: test = the last int(f_test n) rows, val = the last int(f_val m) of the m rows left.

    Train, val and test are consecutive blocks in this order (seed000.md §2.4).
    """
    n_test = int(test_fraction * n)
    n_val = int(val_fraction * (n - n_test))
    return n - n_test - n_val, n_val, n_test


def prepared_dataset(
    *,
    name: str,
    kind: str,
    stands_in_for: str,
    likelihood: str,
    image_shape: Sequence[int] | None,
    description: str,
    config: Any,
    x: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray] | None = None,
    gmm: Any = None,
) -> xr.Dataset:
    """Assemble the prepared-dataset format (see the module docstring).

    Args:
        x: ``{"train": (n_train, D), "val": ..., "test": ...}`` arrays (cast to float32).
        labels: the same keys with (n,) integer labels, or None.
        gmm: a :class:`~vaeinfer.data.gmm.ClassGaussians` (the true mixture), or None.
        config: the dataset's config dataclass, stored as JSON.
    """
    if kind not in ("stand-in", "real"):
        raise ValueError(f"kind must be 'stand-in' or 'real', got {kind!r}")
    if likelihood not in ("gaussian", "bernoulli"):
        raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli', got {likelihood!r}")
    arrays = {split: np.ascontiguousarray(np.asarray(x[split]), dtype=np.float32) for split in SPLITS}
    num_features = arrays["train"].shape[1]
    for split, array in arrays.items():
        if array.ndim != 2 or array.shape[1] != num_features:
            raise ValueError(f"x[{split!r}] must have shape (n, {num_features}), got {array.shape}")
    if arrays["train"].shape[0] == 0:
        raise ValueError("the training split is empty")
    data: dict[str, Any] = {f"x_{s}": ((f"{s}_index", "feature"), arrays[s]) for s in SPLITS}
    if labels is not None:
        for s in SPLITS:
            lab = np.asarray(labels[s]).astype(np.int64)
            if lab.shape != (arrays[s].shape[0],):
                raise ValueError(f"labels[{s!r}] must have shape ({arrays[s].shape[0]},), got {lab.shape}")
            data[f"label_{s}"] = (f"{s}_index", lab)
    data["feature_min"] = ("feature", arrays["train"].min(axis=0))
    data["feature_max"] = ("feature", arrays["train"].max(axis=0))
    if gmm is not None:
        data["gmm_weights"] = ("component", np.asarray(gmm.weights, dtype=np.float64))
        data["gmm_means"] = (("component", "feature"), np.asarray(gmm.means, dtype=np.float64))
        data["gmm_covariances"] = (
            ("component", "feature", "feature_b"), np.asarray(gmm.covariances, dtype=np.float64)
        )  # fmt: skip
    ds = xr.Dataset(data)
    ds.attrs.update(
        netcdf_safe_attrs(
            {
                "name": name,
                "kind": kind,
                "stands_in_for": stands_in_for,
                "likelihood": likelihood,
                "image_shape_json": json.dumps([int(s) for s in image_shape]) if image_shape else "",
                "description": description,
                "config_json": json.dumps(to_dict(config), sort_keys=True),
            }
        )
    )
    return ds


def check_prepared(ds: xr.Dataset) -> None:
    """Raise ValueError naming the first way ``ds`` departs from the prepared-dataset format."""
    missing = [a for a in _ATTRS if a not in ds.attrs]
    if missing:
        raise ValueError(f"prepared dataset lacks attributes {missing}")
    num_features = None
    for s in SPLITS:
        var = f"x_{s}"
        if var not in ds:
            raise ValueError(f"prepared dataset lacks {var}")
        if ds[var].dims != (f"{s}_index", "feature") or ds[var].dtype != np.float32:
            raise ValueError(f"{var} must be float32 on ({s}_index, feature), got {ds[var].dtype} on {ds[var].dims}")
        num_features = ds[var].shape[1]
        label = f"label_{s}"
        if label in ds and (ds[label].dims != (f"{s}_index",) or ds[label].dtype != np.int64):
            raise ValueError(f"{label} must be int64 on ({s}_index,)")
    for var in ("feature_min", "feature_max"):
        if var not in ds or ds[var].dims != ("feature",):
            raise ValueError(f"prepared dataset lacks {var} on (feature,)")
    if ds.attrs["image_shape_json"]:
        shape = json.loads(ds.attrs["image_shape_json"])
        if int(np.prod(shape)) != num_features:
            raise ValueError(f"image_shape_json {shape} does not match {num_features} features")
    gmm_vars = {"gmm_weights": ("component",), "gmm_means": ("component", "feature"),
                "gmm_covariances": ("component", "feature", "feature_b")}  # fmt: skip
    present = [v for v in gmm_vars if v in ds]
    if present and len(present) != len(gmm_vars):
        raise ValueError(f"a GMM dataset needs all of {list(gmm_vars)}, got {present}")
    for var, dims in gmm_vars.items():
        if var in ds and (ds[var].dims != dims or ds[var].dtype != np.float64):
            raise ValueError(f"{var} must be float64 on {dims}")
