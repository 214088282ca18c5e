"""The claim checker: the papers' measurable claims, evaluated against the result grids.

Every claim the seed papers make that the pipeline measures is written once in a YAML file
(``workflow/claims.yaml``) as a :class:`Claim`: which grid and variable, which part of it
(``select``), how seeds / imputations are pooled (``reduce`` with ``how``), at which coordinates the
claim must hold (``for_each``), and one of five tests:

* ``below``: every value is below ``threshold`` (e.g. "JSD below 0.05 on the pitfall points");
* ``ordering``: at every ``for_each`` coordinate, each sampler in ``better`` beats each one in
  ``worse`` (e.g. "AC-MWG and LAIR beat MWG on all three pitfall points");
* ``wins``: ``better[0]`` beats ``worse[0]`` on at least a fraction ``at_least`` of the ``for_each``
  coordinates (e.g. "on at least 7 of 10 points");
* ``best`` / ``worst``: ``better[0]`` (``worse[0]``) is the best (worst) of all samplers present.

"Beats" means a lower value, or a higher one with ``higher_is_better: true`` (F1, SSIM).
:func:`check_claims` returns one row per claim with the value measured and ``pass``, ``fail`` or
``not run`` (the experiment or a sampler is absent from this run's grids): a failing claim is
reported, never dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from vaeinfer.config import ConfigError, from_dict
from vaeinfer.results.io import atomic_path

__all__ = ["Claim", "check_claims", "load_claims", "write_claims_table"]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One measurable claim (see the module docstring)."""

    id: str
    paper: str
    source: str
    experiment: str
    claim: str
    test: Literal["below", "ordering", "wins", "best", "worst"]
    variable: str
    select: dict[str, Any] = field(default_factory=dict)
    reduce: tuple[str, ...] = ()
    how: Literal["mean", "median"] = "mean"
    for_each: tuple[str, ...] = ()
    better: tuple[str, ...] = ()
    worse: tuple[str, ...] = ()
    threshold: float | None = None
    at_least: float | None = None
    higher_is_better: bool = False

    def __post_init__(self) -> None:
        need = {"below": self.threshold is not None, "ordering": bool(self.better and self.worse),
                "wins": bool(self.better and self.worse and self.at_least is not None),
                "best": bool(self.better), "worst": bool(self.worse)}
        if not need[self.test]:
            raise ConfigError(
                f"claim {self.id}: test {self.test!r} needs "
                + {"below": "threshold", "ordering": "better and worse", "wins": "better, worse and at_least",
                   "best": "better", "worst": "worse"}[self.test]
            )


def load_claims(path: str | os.PathLike[str]) -> list[Claim]:
    """Parse and validate the claims file (unknown keys and duplicate ids are errors)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"claims file {path} does not exist") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("claims"), list):
        raise ConfigError(f"{path} must be a mapping with a list under 'claims'")
    claims = [from_dict(Claim, c, where=f"{path}: claims[{i}]") for i, c in enumerate(raw["claims"])]
    ids = [c.id for c in claims]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{path}: duplicate claim ids {duplicates}")
    return claims


class _NotRun(Exception):
    """The grid lacks what the claim needs (experiment disabled, sampler not configured)."""


def _values(claim: Claim, grid: xr.Dataset) -> xr.DataArray:
    if claim.variable not in grid:
        raise _NotRun(f"variable {claim.variable!r} not in the grid")
    da = grid[claim.variable]
    for dim, wanted in claim.select.items():
        if dim not in da.dims and dim not in da.coords:
            raise _NotRun(f"no {dim!r} in the grid")
        wanted_list = wanted if isinstance(wanted, list) else [wanted]
        present = set(da[dim].values.tolist())
        absent = [w for w in wanted_list if w not in present]
        if absent:
            raise _NotRun(f"{dim} {absent} not in this run")
        da = da.sel({dim: wanted_list})
    dims = [d for d in claim.reduce if d in da.dims]
    if dims:
        da = da.median(dims, skipna=True) if claim.how == "median" else da.mean(dims, skipna=True)
    return da


def _samplers(da: xr.DataArray, names: tuple[str, ...]) -> xr.DataArray:
    absent = [n for n in names if n not in da["sampler"].values]
    if absent:
        raise _NotRun(f"samplers {absent} not in this run")
    return da.sel(sampler=list(names))


def _where(da: xr.DataArray, index: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in index.items() if k in da.dims)


def _evaluate(claim: Claim, grid: xr.Dataset) -> tuple[bool, str]:
    da = _values(claim, grid)
    sign = -1.0 if claim.higher_is_better else 1.0
    keep = [d for d in claim.for_each if d in da.dims]
    if claim.test == "below":
        at = {k: da[k].values[v] for k, v in da.argmax(...).items()}
        return bool((da < claim.threshold).all()), f"max {float(da.max()):.4g} ({_where(da, at)})"
    if claim.test == "ordering":
        better, worse = _samplers(da, claim.better) * sign, _samplers(da, claim.worse) * sign
        margin = worse.min("sampler") - better.max("sampler")  # > 0 where the claim holds
        extra = [d for d in margin.dims if d not in keep]
        if extra:
            raise ConfigError(f"claim {claim.id}: dims {extra} are neither reduced nor in for_each")
        at = {k: margin[k].values[v] for k, v in margin.argmin(...).items()} if margin.ndim else {}
        at_values = da.sel(at) if at else da
        summary = ", ".join(f"{name} {float(at_values.sel(sampler=name)):.4g}" for name in claim.better + claim.worse)
        where = f"at {_where(margin, at)}: " if at else ""
        return bool((margin > 0).all()), f"{where}{summary}"
    if claim.test == "wins":
        pair = _samplers(da, (claim.better[0], claim.worse[0])) * sign
        wins = pair.sel(sampler=claim.better[0]) < pair.sel(sampler=claim.worse[0])
        extra = [d for d in wins.dims if d not in keep]
        if extra:
            raise ConfigError(f"claim {claim.id}: dims {extra} are neither reduced nor in for_each")
        k, n = int(wins.sum()), int(wins.size)
        return k >= claim.at_least * n, f"{k}/{n} (needs {int(np.ceil(claim.at_least * n - 1e-9))})"
    name = claim.better[0] if claim.test == "best" else claim.worse[0]
    _samplers(da, (name,))
    signed = da * sign if claim.test == "best" else -da * sign
    others = signed.drop_sel(sampler=name)
    margin = others.min("sampler") - signed.sel(sampler=name)  # > 0 where name is best (worst)
    extra = [d for d in margin.dims if d not in keep]
    if extra:
        raise ConfigError(f"claim {claim.id}: dims {extra} are neither reduced nor in for_each")
    runner = others.idxmin("sampler")
    parts = []
    for idx in np.ndindex(margin.shape):
        sel = dict(zip(margin.dims, idx, strict=True))
        label = ", ".join(str(margin[d].values[i]) for d, i in sel.items())
        other = runner.isel(sel).item()
        parts.append(f"{label + ': ' if label else ''}{name} {float(da.sel(sampler=name).isel(sel)):.4g}, "
                     f"next {other} {float(da.sel(sampler=other).isel(sel)):.4g}")
    return bool((margin > 0).all()), "; ".join(parts)


def check_claims(claims: list[Claim], grids: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """One row per claim: id, claim, paper, source, experiment, our value, result."""
    rows = []
    for claim in claims:
        row = {"id": claim.id, "claim": claim.claim, "paper": claim.paper, "source": claim.source,
               "experiment": claim.experiment}
        if claim.experiment not in grids:
            row.update(value=f"experiment {claim.experiment} not in this run", result="not run")
        else:
            try:
                ok, value = _evaluate(claim, grids[claim.experiment])
                row.update(value=value, result="pass" if ok else "fail")
            except _NotRun as reason:
                row.update(value=str(reason), result="not run")
        rows.append(row)
    return pd.DataFrame(rows, columns=["id", "claim", "paper", "source", "experiment", "value", "result"])


def write_claims_table(table: pd.DataFrame, *, markdown: str | os.PathLike[str], csv: str | os.PathLike[str],
                       note: str = "") -> None:
    """The table as CSV and markdown, with a pass / fail / not-run tally on top."""
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    counts = table["result"].value_counts()
    tally = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pass", "fail", "not run"))
    shown = table.assign(result=table["result"].map({"pass": "✅ pass", "fail": "❌ fail", "not run": "— not run"}))
    header = (f"Claims of the papers measured by this run: {tally}. Values are this run's; a failing claim "
              f"is listed, never dropped.{(' ' + note) if note else ''}\n\n")
    with atomic_path(markdown) as tmp:
        tmp.write_text(header + shown.drop(columns="id").to_markdown(index=False) + "\n")
