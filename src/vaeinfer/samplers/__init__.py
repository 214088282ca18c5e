"""Conditional samplers of VAEs: a registry of pure ``init``/``step`` modules and one driver.

Look samplers up by name in :data:`SAMPLERS`; :func:`vaeinfer.sample` is the one-call API.
"""

from __future__ import annotations

import difflib

from vaeinfer.samplers import ac_mwg, importance_resampling, lair, marginal, mwg, pseudo_gibbs
from vaeinfer.samplers.base import (
    Initialisation,
    Problem,
    SamplerSpec,
    Start,
    Trace,
    Warmup,
    make_problem,
    run,
)

__all__ = [
    "SAMPLERS",
    "Initialisation",
    "Problem",
    "SamplerSpec",
    "Start",
    "Trace",
    "Warmup",
    "get",
    "make_problem",
    "run",
]

_ir = importance_resampling
#: Every sampler by name. ``exact``: asymptotically exact for p(x_m | x_o) (given the VAE).
SAMPLERS: dict[str, SamplerSpec] = {
    "marginal": SamplerSpec("marginal", marginal.MarginalConfig, marginal.init, marginal.step, exact=False),
    "pseudo_gibbs": SamplerSpec(
        "pseudo_gibbs", pseudo_gibbs.PseudoGibbsConfig, pseudo_gibbs.init, pseudo_gibbs.step, exact=False
    ),
    "mwg": SamplerSpec("mwg", mwg.MWGConfig, mwg.init, mwg.step),
    "ac_mwg": SamplerSpec("ac_mwg", ac_mwg.ACMWGConfig, ac_mwg.init, ac_mwg.step),
    "lair": SamplerSpec("lair", lair.LAIRConfig, lair.init, lair.step, finalize=lair.finalize, check=lair.check),
    "importance_resampling": SamplerSpec(
        "importance_resampling", _ir.ImportanceResamplingConfig, _ir.init, _ir.step, finalize=_ir.finalize
    ),
}


def get(name: str) -> SamplerSpec:
    """The registered sampler ``name``; unknown names raise with the valid choices."""
    try:
        return SAMPLERS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(SAMPLERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown sampler {name!r}.{hint} Available samplers: {', '.join(SAMPLERS)}."
        ) from None
