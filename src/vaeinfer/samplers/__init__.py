"""Conditional samplers of VAEs: a registry of pure ``init``/``step`` modules and one driver.

Look samplers up by name in :data:`SAMPLERS`; :func:`vaeinfer.sample` is the one-call API.
"""

from __future__ import annotations

import difflib

from vaeinfer.samplers import ac_mwg, lair, mwg, pseudo_gibbs
from vaeinfer.samplers.base import Problem, SamplerSpec, Trace, Warmup, make_problem, run

__all__ = ["SAMPLERS", "Problem", "SamplerSpec", "Trace", "Warmup", "get", "make_problem", "run"]

SAMPLERS: dict[str, SamplerSpec] = {
    "pseudo_gibbs": SamplerSpec(
        "pseudo_gibbs", pseudo_gibbs.PseudoGibbsConfig, pseudo_gibbs.init, pseudo_gibbs.step, exact=False
    ),
    "mwg": SamplerSpec("mwg", mwg.MWGConfig, mwg.init, mwg.step),
    "ac_mwg": SamplerSpec("ac_mwg", ac_mwg.ACMWGConfig, ac_mwg.init, ac_mwg.step),
    "lair": SamplerSpec("lair", lair.LAIRConfig, lair.init, lair.step, finalize=lair.finalize),
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
