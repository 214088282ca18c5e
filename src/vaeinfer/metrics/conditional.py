r"""The VAE's own conditional :math:`p(x_m \mid x_o)` for a 1-D latent, by quadrature.

For data points with exactly one missing feature,

.. math:: p(x_m \mid x_o) \propto \int p(z)\, p(x_o \mid z)\, p(x_m \mid z)\, dz,

evaluated on a grid of x_m values, integrated over a grid of z with Simpson's rule
(:func:`scipy.integrate.simpson`) and normalised over the x_m grid with the same rule. This is the
reference the toy experiment compares samplers against (Simkus & Gutmann 2023, section 3.1).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import integrate

from vaeinfer.models.likelihood import per_feature_log_prob
from vaeinfer.types import VAE

__all__ = ["QuadratureConditional", "conditional_density_by_quadrature"]


class QuadratureConditional(NamedTuple):
    """Attributes:
    pdf: (B, G) p(x_m | x_o) on ``x_grid``, integrating to 1 over the grid.
    joint: (B, G, Z) p(x_m, z | x_o) on the grids.
    mean_latent: (B, G) E[z | x_o, x_m] on ``x_grid``.
    """

    pdf: np.ndarray
    joint: np.ndarray
    mean_latent: np.ndarray


def conditional_density_by_quadrature(
    model: VAE,
    x: torch.Tensor,
    observed_mask: torch.Tensor,
    x_grid: np.ndarray,
    z_grid: np.ndarray,
) -> QuadratureConditional:
    """p(x_m | x_o) on ``x_grid`` for every row of ``x`` (B, D) with exactly one missing feature.

    Args:
        model: a VAE with a 1-D latent.
        x: (B, D) data; missing entries are ignored.
        observed_mask: (B, D) bool, exactly one False per row.
        x_grid: (G,) increasing values of the missing feature.
        z_grid: (Z,) increasing latent values covering the prior's support (or its bulk).
    """
    if model.latent_dim != 1:
        raise ValueError(f"quadrature needs a 1-D latent, the model has latent_dim={model.latent_dim}")
    missing = ~observed_mask
    if not bool((missing.sum(1) == 1).all()):
        raise ValueError("every row must have exactly one missing feature for the 1-D conditional")
    param = next(iter(getattr(model, "parameters", lambda: iter([x]))()), x)
    dtype, device = torch.float64, param.device
    z = torch.as_tensor(z_grid, dtype=dtype, device=device).unsqueeze(-1)  # (Z, 1)
    xs = torch.as_tensor(x_grid, dtype=dtype, device=device)
    with torch.no_grad():
        model_dtype = param.dtype
        dec = model.decoder(z.to(model_dtype))  # batch (Z, D)
        log_prior = model.prior().log_prob(z.to(model_dtype)).to(dtype)  # (Z,)
        x_obs = torch.where(observed_mask, x, torch.zeros_like(x)).to(model_dtype)
        lp_obs = per_feature_log_prob(dec, x_obs.unsqueeze(1)).to(dtype)  # (B, Z, D)
        lp_obs = torch.where(observed_mask.unsqueeze(1), lp_obs, 0).sum(-1)  # (B, Z)
        d = x.shape[1]
        grid_x = xs.to(model_dtype)[:, None, None].expand(-1, 1, d)  # (G, 1, D)
        lp_grid = per_feature_log_prob(dec, grid_x).to(dtype)  # (G, Z, D)
    feature = missing.float().argmax(1).to(device)  # (B,)
    lp_mis = lp_grid.permute(2, 0, 1)[feature]  # (B, G, Z)
    log_joint = (log_prior + lp_obs).unsqueeze(1) + lp_mis  # (B, G, Z)
    log_joint = log_joint - log_joint.amax(dim=(1, 2), keepdim=True)
    joint = torch.exp(log_joint).cpu().numpy()
    z_np = np.asarray(z_grid, dtype=np.float64)
    marginal = integrate.simpson(joint, x=z_np, axis=-1)  # (B, G)
    norm = integrate.simpson(marginal, x=np.asarray(x_grid, dtype=np.float64), axis=-1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_latent = integrate.simpson(joint * z_np, x=z_np, axis=-1) / marginal
    return QuadratureConditional(pdf=marginal / norm, joint=joint / norm[..., None], mean_latent=mean_latent)
