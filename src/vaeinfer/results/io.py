"""xarray conversion and atomic netCDF I/O for sampler runs and result grids.

Dimension vocabulary of a run file: ``draw`` (stored iterates, 0 = initial imputation), ``point``
(data points), ``chain``, ``feature``, ``latent``, ``iteration`` (main-phase iterations, for
diagnostics), ``proposal`` and ``resample`` (final-resampled draws). No dimension is named
``method``: ``Dataset.sel(method=...)`` would be taken as sel's own keyword.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaeinfer.config import to_dict
from vaeinfer.samplers.base import Trace

__all__ = [
    "atomic_path",
    "netcdf_safe_attrs",
    "open_dataset",
    "remove_stale_temporaries",
    "trace_to_dataset",
    "write_netcdf",
]

_INFO_DIMS = {2: ("iteration", "point"), 3: ("iteration", "point", "chain")}


def _numpy(t: torch.Tensor) -> np.ndarray:
    if t.dtype == torch.bool:
        return t.numpy().astype(np.int8)
    return t.detach().cpu().numpy()


def trace_to_dataset(
    trace: Trace,
    *,
    observed_mask: torch.Tensor,
    sampler: str,
    config: Any,
    keep_info: tuple[str, ...] | None = None,
) -> xr.Dataset:
    """A run's :class:`~vaeinfer.samplers.Trace` as a Dataset (see the module docstring).

    Per-iteration info tensors of shape (T, B) or (T, B, K) become variables on
    (iteration, point[, chain]); larger ones (LAIR's proposals and weights) are kept only when
    named in ``keep_info``.
    """
    data: dict[str, Any] = {
        "imputations": (("draw", "point", "chain", "feature"), _numpy(trace.x)),
        "latents": (("draw", "point", "chain", "latent"), _numpy(trace.z)),
        "observed_mask": (("point", "feature"), _numpy(observed_mask.cpu())),
    }
    for name, value in trace.info.items():
        dims = _INFO_DIMS.get(value.ndim)
        if keep_info is not None and name in keep_info:
            dims = ("iteration", "point", "proposal", "latent")[: value.ndim]
        elif dims is None or (value.ndim == 3 and value.shape[2] != trace.x.shape[2]):
            continue
        data[name] = (dims, _numpy(value))
    if "x_resampled" in trace.extra:
        data["resampled_imputations"] = (("point", "resample", "feature"), _numpy(trace.extra["x_resampled"]))
        data["resampled_latents"] = (("point", "resample", "latent"), _numpy(trace.extra["z_resampled"]))
    ds = xr.Dataset(data)
    ds = ds.assign_coords(
        draw=np.arange(trace.x.shape[0]),
        point=np.arange(trace.x.shape[1]),
        chain=np.arange(trace.x.shape[2]),
    )
    if "resampled_imputations" in ds:
        ds["resampled_imputations"] = ds["resampled_imputations"].transpose("resample", "point", "feature")
        ds["resampled_latents"] = ds["resampled_latents"].transpose("resample", "point", "latent")
    ds["imputations"].attrs["long_name"] = "completed data (observed entries kept) per stored iterate"
    ds.attrs.update(
        netcdf_safe_attrs(
            {"sampler": sampler, "sampler_config_json": json.dumps(to_dict(config), sort_keys=True),
             "num_warmup_draws": trace.num_warmup}
        )
    )
    return ds


def netcdf_safe_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes netCDF can store: bools as 0/1, dicts and lists of mixed type as JSON, None as ''."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bool):
            out[key] = int(value)
        elif value is None:
            out[key] = ""
        elif isinstance(value, dict | list | tuple):
            out[key] = json.dumps(value, sort_keys=True)
        else:
            out[key] = value
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary file is ``.<name>.<random>.tmp`` in the target's directory; it is removed on any
    exception (also Ctrl-C). A process killed outright (SIGKILL, out of memory) cannot remove it;
    :func:`remove_stale_temporaries` does, when the same output is written again.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make every output private
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary siblings ``.<name>.*.tmp`` of ``path`` left by a killed writer.

    Only call this where nothing else can be writing ``path`` at the same time (a Snakemake job
    owns its outputs: :func:`vaeinfer.workflow.script` calls it for each of them). Returns what
    was removed.
    """
    target = Path(path)
    removed = []
    if target.parent.is_dir():
        for stale in sorted(target.parent.glob(f".{glob.escape(target.name)}.*.tmp")):
            if stale.is_file() and not stale.is_symlink():
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write ``ds`` to ``path`` (netCDF4, zlib-compressed) atomically: all or nothing."""
    # NOTE: drop encodings inherited from files that were read: a string coordinate read as a
    # fixed-width char array would otherwise silently truncate longer labels merged into it.
    ds = ds.drop_encoding()
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)


def open_dataset(path: str | os.PathLike[str]) -> xr.Dataset:
    """Load a netCDF file fully into memory (and close it), with a clear error if unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run the workflow rule that produces it")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except OSError as err:  # netCDF4's strerror, without the absolute path it appends
        reason = err.strerror or err
        raise OSError(f"{path} is not a readable netCDF file ({reason}); delete it and rerun the rule") from None
