r"""Oracle VAEs whose conditional p(x_m | x_o) is known exactly, for testing samplers.

* :class:`LinearGaussianVAE`: probabilistic PCA / factor analysis,
  :math:`z \sim N(0, I_L)`, :math:`x \mid z \sim N(W z + b, \operatorname{diag}(\sigma^2))`.
  The marginal is :math:`x \sim N(b, W W^\top + \operatorname{diag}(\sigma^2))`, so every
  conditional p(x_m | x_o) is Gaussian in closed form (:meth:`LinearGaussianVAE.conditional`,
  :func:`gaussian_conditional`).
* :class:`OneDimLatentVAE`: a fixed *nonlinear* decoder with a 1-D latent and D = 2, whose
  conditionals are computed by quadrature with
  :func:`vaeinfer.metrics.conditional_density_by_quadrature`.

Both implement :class:`vaeinfer.types.VAE` exactly (prior and encoder ``Independent`` over the
latent axis, decoder factorised over features with batch shape ``(..., D)``), hold their constants
as buffers (no trainable parameters, no randomness) and accept any number of leading batch axes.

Encoders are deliberately *imperfect*: the exact full-data posterior of the linear-Gaussian model
has a non-diagonal covariance, which a diagonal Gaussian encoder cannot represent. The
asymptotically exact samplers (MWG, AC-MWG, LAIR) only use the encoder as a proposal and correct
with Metropolis-Hastings or importance weights, so they remain exact for *any* encoder with full
support; pseudo-Gibbs, which trusts the encoder, is not exact with these encoders.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

__all__ = ["LinearGaussianVAE", "OneDimLatentVAE", "gaussian_conditional"]


def gaussian_conditional(
    mean: Tensor, cov: Tensor, x: Tensor, observed_mask: Tensor
) -> list[tuple[Tensor, Tensor]] | tuple[Tensor, Tensor]:
    r"""Per row, the mean and covariance of the missing entries of :math:`x \sim N(\mu, \Sigma)`.

    .. math:: \mu_{m|o} = \mu_m + \Sigma_{mo} \Sigma_{oo}^{-1} (x_o - \mu_o), \quad
              \Sigma_{m|o} = \Sigma_{mm} - \Sigma_{mo} \Sigma_{oo}^{-1} \Sigma_{om}.

    Args:
        mean: (D,) marginal mean.
        cov: (D, D) marginal covariance.
        x: (B, D) data, or one row (D,); missing entries are ignored (may be NaN).
        observed_mask: bool of the shape of ``x``, True where observed.

    Returns:
        A list of B pairs ``(mean_m, cov_mm)`` with shapes (D_m,) and (D_m, D_m), where the missing
        features of the row are taken in increasing feature order; for a single row (D,), that
        row's pair itself.
    """
    if x.ndim == 1 and observed_mask.shape == x.shape:
        return gaussian_conditional(mean, cov, x.unsqueeze(0), observed_mask.unsqueeze(0))[0]
    if x.ndim != 2 or observed_mask.shape != x.shape:
        raise ValueError("x and observed_mask must both have shape (B, D) or (D,)")
    out = []
    for row, mask in zip(x, observed_mask, strict=True):
        o = torch.nonzero(mask).flatten()
        m = torch.nonzero(~mask).flatten()
        mu_m = mean[m]
        s_mm = cov[m][:, m]
        if o.numel() == 0:
            out.append((mu_m.clone(), s_mm.clone()))
            continue
        s_oo = cov[o][:, o]
        s_mo = cov[m][:, o]
        gain = torch.linalg.solve(s_oo, s_mo.T).T  # Sigma_mo Sigma_oo^{-1}, (D_m, D_o)
        cond_mean = mu_m + gain @ (row[o].to(mean.dtype) - mean[o])
        cond_cov = s_mm - gain @ s_mo.T
        out.append((cond_mean, 0.5 * (cond_cov + cond_cov.T)))
    return out


class LinearGaussianVAE(nn.Module):
    r"""A linear-Gaussian VAE (probabilistic PCA with per-feature noise).

    * prior :math:`p(z) = N(0, I_L)`;
    * decoder :math:`p(x \mid z) = N(W z + b, \operatorname{diag}(\sigma^2))`, a ``Normal`` with
      batch shape ``(..., D)``;
    * encoder :math:`q(z \mid x) = N(A x + c, \operatorname{diag}(s^2))`: the exact posterior
      mean, :math:`A = S W^\top \operatorname{diag}(\sigma^{-2})`, :math:`c = -A b`, with
      :math:`S = (I + W^\top \operatorname{diag}(\sigma^{-2}) W)^{-1}` the exact posterior
      covariance, and scales :math:`s = \text{encoder\_scale} \cdot \sqrt{\operatorname{diag} S}`.
      The true posterior covariance S is not diagonal in general, so this encoder is a reasonable
      but imperfect approximation (its marginals are exact when ``encoder_scale == 1``).

    Args:
        W: (D, L) loading matrix.
        b: (D,) offset.
        sigma: (D,) positive decoder noise scales.
        encoder_scale: positive factor on the encoder's scales (> 1 for a broader proposal).
    """

    def __init__(self, W: Tensor, b: Tensor, sigma: Tensor, encoder_scale: float = 1.0) -> None:
        super().__init__()
        W, b, sigma = torch.as_tensor(W), torch.as_tensor(b), torch.as_tensor(sigma)
        if W.ndim != 2 or b.shape != (W.shape[0],) or sigma.shape != (W.shape[0],):
            raise ValueError("W must be (D, L), b and sigma (D,)")
        if not bool((sigma > 0).all()) or not encoder_scale > 0:
            raise ValueError("sigma and encoder_scale must be positive")
        dtype = W.dtype
        b, sigma = b.to(dtype), sigma.to(dtype)
        self.latent_dim = int(W.shape[1])
        self.data_dim = int(W.shape[0])
        self.encoder_scale = float(encoder_scale)
        eye = torch.eye(self.latent_dim, dtype=dtype)
        wt_prec = W.T / sigma**2  # W^T diag(sigma^-2), (L, D)
        post_cov = torch.linalg.inv(eye + wt_prec @ W)
        post_cov = 0.5 * (post_cov + post_cov.T)
        gain = post_cov @ wt_prec  # A, (L, D)
        self.register_buffer("W", W.clone())
        self.register_buffer("b", b.clone())
        self.register_buffer("sigma", sigma.clone())
        self.register_buffer("posterior_cov", post_cov)
        self.register_buffer("encoder_gain", gain)
        self.register_buffer("encoder_offset", -(gain @ b))
        encoder_std = self.encoder_scale * torch.sqrt(torch.diagonal(post_cov))
        self.register_buffer("encoder_std", encoder_std)

    def prior(self) -> Distribution:
        zeros = torch.zeros(self.latent_dim, dtype=self.W.dtype, device=self.W.device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def encoder(self, x: Tensor) -> Distribution:
        loc = x @ self.encoder_gain.T + self.encoder_offset
        return Independent(Normal(loc, self.encoder_std.expand_as(loc)), 1)

    def decoder(self, z: Tensor) -> Distribution:
        loc = z @ self.W.T + self.b
        return Normal(loc, self.sigma.expand_as(loc))

    def marginal(self) -> tuple[Tensor, Tensor]:
        """Mean (D,) and covariance (D, D) of the marginal p(x) = N(b, W W^T + diag(sigma^2))."""
        return self.b, self.W @ self.W.T + torch.diag(self.sigma**2)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The exact full-data posterior p(z | x): mean (..., L) and covariance (L, L)."""
        return x @ self.encoder_gain.T + self.encoder_offset, self.posterior_cov

    def conditional(self, x: Tensor, observed_mask: Tensor) -> list[tuple[Tensor, Tensor]]:
        """The exact p(x_m | x_o) per row of ``x`` (B, D); see :func:`gaussian_conditional`."""
        mean, cov = self.marginal()
        return gaussian_conditional(mean, cov, x, observed_mask)


class OneDimLatentVAE(nn.Module):
    r"""A fixed nonlinear VAE with a 1-D latent and D = 2, for quadrature checks.

    * prior :math:`p(z) = N(0, 1)`;
    * decoder :math:`p(x \mid z) = N(f(z), \operatorname{diag}(0.3^2, 0.3^2))` with
      :math:`f(z) = (1.5 \tanh 2z,\; z + 0.5 \sin 3z)`;
    * encoder :math:`q(z \mid x) = N(0.8\, x_2, 0.8^2)`: a hand-made, broad approximation with
      full support (it ignores :math:`x_1`).

    The exact p(x_m | x_o) of a row with one missing feature is given by
    :func:`vaeinfer.metrics.conditional_density_by_quadrature`. The model has no parameters, only
    buffers; that function then takes its dtype from ``x``, so pass ``x`` in ``dtype``.

    Args:
        dtype: floating-point type of the model's constants.
    """

    latent_dim = 1
    data_dim = 2

    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.register_buffer("sigma", torch.tensor([0.3, 0.3], dtype=dtype))
        self.register_buffer("encoder_std", torch.tensor([0.8], dtype=dtype))
        self.encoder_slope = 0.8

    def mean_function(self, z: Tensor) -> Tensor:
        """The decoder mean f(z) (..., 2) for latents z (..., 1)."""
        return torch.cat([1.5 * torch.tanh(2 * z), z + 0.5 * torch.sin(3 * z)], dim=-1)

    def prior(self) -> Distribution:
        zeros = torch.zeros(1, dtype=self.sigma.dtype, device=self.sigma.device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def encoder(self, x: Tensor) -> Distribution:
        loc = self.encoder_slope * x[..., 1:2]
        return Independent(Normal(loc, self.encoder_std.expand_as(loc)), 1)

    def decoder(self, z: Tensor) -> Distribution:
        loc = self.mean_function(z)
        return Normal(loc, self.sigma.expand_as(loc))
