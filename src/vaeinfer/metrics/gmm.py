r"""Exact quantities of a Gaussian mixture model (GMM) with full covariances, for the MNIST-GMM metrics.

The mixture is :math:`p(x) = \sum_{c=1}^C w_c\, \mathcal N(x; \mu_c, \Sigma_c)` with ``weights`` (C,),
``means`` (C, D) and ``covariances`` (C, D, D) (numpy or torch, computed in float64). For a data point
with observed dimensions :math:`o` and missing dimensions :math:`m`:

* **component posterior given the observed part** (spec section 3.2 (a), the "truth" π):

  .. math:: p(c \mid x_o) = \frac{w_c\, \mathcal N(x_o; \mu_{c,o}, \Sigma_{c,oo})}
                                 {\sum_{c'} w_{c'}\, \mathcal N(x_o; \mu_{c',o}, \Sigma_{c',oo})},

  from each component's Gaussian marginal on the observed dimensions (sub-mean, sub-covariance);
  with nothing observed it is :math:`w_c`;
* **component posterior given complete data**, :math:`p(c \mid x)`, the same with every dimension;
* **Rao-Blackwellised estimate** (section 3.2 (a), the estimate π̂): with imputations
  :math:`x_m^{(n)}`, :math:`\hat\pi_c = \frac1N \sum_n p(c \mid x_o, x_m^{(n)})`. Since
  :math:`\mathbb E_{p(x_m \mid x_o)}[p(c \mid x_o, x_m)] = p(c \mid x_o)`, it is unbiased when the
  imputations come from the exact conditional;
* **exact conditional** :math:`p(x_m \mid x_o) = \sum_c p(c \mid x_o)\, \mathcal N(x_m; \mu_{c,m|o}, \Sigma_{c,m|o})`
  with :math:`\mu_{c,m|o} = \mu_{c,m} + \Sigma_{c,mo}\Sigma_{c,oo}^{-1}(x_o - \mu_{c,o})` and
  :math:`\Sigma_{c,m|o} = \Sigma_{c,mm} - \Sigma_{c,mo}\Sigma_{c,oo}^{-1}\Sigma_{c,om}` (the reference
  samples of the per-point FID, section 3.2 (b));
* :func:`categorical_divergences` between two categorical distributions (KL both ways and JSD).

Points with different masks are grouped by identical mask (``np.unique`` over mask rows) and each
group is processed batched, so the per-mask linear algebra is done once per distinct mask.

Functions returning posteriors return the type of ``x`` (numpy array or torch tensor, float64);
:func:`sample_conditional` returns a torch tensor.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from vaeinfer.random import multinomial, normal

__all__ = [
    "categorical_divergences",
    "class_posterior_full",
    "class_posterior_observed",
    "rao_blackwell_class_posterior",
    "sample_conditional",
]

_LOG_2PI = math.log(2.0 * math.pi)
PROBABILITY_FLOOR = 1e-8
"""Probabilities are raised to this value, then renormalised, before any logarithm (:func:`categorical_divergences`)."""


# --- input handling --------------------------------------------------------------------------------


def _as_tensor(a: object, name: str, device: torch.device | None = None) -> Tensor:
    if isinstance(a, Tensor):
        t = a.detach().to(torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(a, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a numeric array, got {type(a).__name__}") from err
    return t if device is None else t.to(device)


def _as_mask(mask: object, shape: tuple[int, ...], device: torch.device) -> Tensor:
    m = mask.detach() if isinstance(mask, Tensor) else torch.as_tensor(np.asarray(mask))
    if m.dtype != torch.bool:
        if m.dtype.is_floating_point or m.dtype.is_complex:
            if not bool(((m == 0) | (m == 1)).all()):
                raise ValueError("observed_mask must be boolean (or 0/1)")
        m = m != 0
    if tuple(m.shape) != shape:
        raise ValueError(f"observed_mask has shape {tuple(m.shape)}, expected {shape} (the shape of x)")
    return m.to(device)


def _like(out: Tensor, ref: object) -> Tensor | np.ndarray:
    """``out`` as the type of ``ref``: a torch tensor if ``ref`` is one, else a numpy array."""
    return out if isinstance(ref, Tensor) else out.cpu().numpy()


class _GMM:
    """Validated float64 parameters; log weights normalised to sum to one."""

    def __init__(self, weights: object, means: object, covariances: object, device: torch.device | None = None):
        w = _as_tensor(weights, "weights", device)
        mu = _as_tensor(means, "means", device)
        cov = _as_tensor(covariances, "covariances", device)
        if w.dim() != 1 or mu.dim() != 2 or cov.dim() != 3:
            raise ValueError(
                f"a GMM needs weights (C,), means (C, D) and covariances (C, D, D); got shapes "
                f"{tuple(w.shape)}, {tuple(mu.shape)} and {tuple(cov.shape)}"
            )
        C, D = mu.shape
        if w.shape[0] != C or tuple(cov.shape) != (C, D, D):
            raise ValueError(
                f"inconsistent GMM shapes: weights {tuple(w.shape)}, means {tuple(mu.shape)}, "
                f"covariances {tuple(cov.shape)} (expected (C,), (C, D), (C, D, D))"
            )
        if C == 0 or D == 0:
            raise ValueError("a GMM needs at least one component and one dimension")
        for t, name in ((w, "weights"), (mu, "means"), (cov, "covariances")):
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"GMM {name} contain NaN or infinite values")
        if bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError("GMM weights must be non-negative with a positive sum")
        if not torch.allclose(cov, cov.transpose(-1, -2), rtol=1e-8, atol=1e-10):
            raise ValueError("GMM covariances must be symmetric")
        self.log_weights = torch.log(w / w.sum())
        self.means = mu
        self.covariances = 0.5 * (cov + cov.transpose(-1, -2))
        self.num_components, self.dim = C, D

    def cholesky(self, cov: Tensor, what: str) -> Tensor:
        factor, info = torch.linalg.cholesky_ex(cov)
        if bool((info != 0).any()):
            raise ValueError(f"{what} is not positive definite (Cholesky failed)")
        return factor


def _check_points(x: Tensor, dim: int, name: str = "x") -> None:
    if x.dim() != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (B, {dim}), got {tuple(x.shape)}")


def _groups(mask: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Rows grouped by identical mask: a list of ``(mask_row (D,), row_indices (G,))``."""
    rows = mask.cpu().numpy()
    if rows.shape[0] == 0:
        return []
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    splits = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(unique)))[:-1])
    return [
        (torch.as_tensor(u, device=mask.device), torch.as_tensor(idx, dtype=torch.int64, device=mask.device))
        for u, idx in zip(unique, splits, strict=True)
    ]


def _observed_log_posterior(gmm: _GMM, x_o: Tensor, obs: Tensor) -> tuple[Tensor, Tensor | None]:
    """log p(c | x_o) (G, C) for a group of points sharing the observed dims ``obs`` (k,), and the
    Cholesky factors (C, k, k) of the observed sub-covariances (``None`` when nothing is observed)."""
    G, k = x_o.shape
    if k == 0:
        return gmm.log_weights.expand(G, -1).clone(), None
    mu_o = gmm.means[:, obs]  # (C, k)
    factor = gmm.cholesky(gmm.covariances[:, obs][:, :, obs], "an observed sub-covariance")  # (C, k, k)
    diff = (x_o[None, :, :] - mu_o[:, None, :]).transpose(-1, -2)  # (C, k, G)
    z = torch.linalg.solve_triangular(factor, diff, upper=False)  # (C, k, G)
    half_log_det = torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)  # (C,)
    log_pdf = -0.5 * (z * z).sum(-2) - half_log_det[:, None] - 0.5 * k * _LOG_2PI  # (C, G)
    joint = gmm.log_weights[None, :] + log_pdf.T  # (G, C)
    return joint - torch.logsumexp(joint, dim=-1, keepdim=True), factor


# --- component posteriors --------------------------------------------------------------------------


def class_posterior_observed(
    x: Tensor | np.ndarray,
    observed_mask: Tensor | np.ndarray,
    weights: Tensor | np.ndarray,
    means: Tensor | np.ndarray,
    covariances: Tensor | np.ndarray,
) -> Tensor | np.ndarray:
    r"""Exact :math:`p(c \mid x_o)` (B, C) of each row of ``x`` (B, D) (spec section 3.2 (a)).

    ``observed_mask`` (B, D) is True where observed; ``x`` may hold anything (NaN included) at
    missing entries but must be finite where observed. Each component's marginal on the observed
    dims is :math:`\mathcal N(\mu_{c,o}, \Sigma_{c,oo})`, evaluated through the Cholesky factor of
    :math:`\Sigma_{c,oo}` once per distinct mask. A row with nothing observed gets the weights.
    """
    gmm = _GMM(weights, means, covariances)
    xt = _as_tensor(x, "x")
    _check_points(xt, gmm.dim)
    mask = _as_mask(observed_mask, tuple(xt.shape), xt.device)
    if not bool(torch.isfinite(xt[mask]).all()):
        raise ValueError("x has NaN or infinite values at observed entries")
    out = torch.empty(xt.shape[0], gmm.num_components, dtype=torch.float64, device=xt.device)
    for obs_row, rows in _groups(mask):
        obs = torch.nonzero(obs_row).reshape(-1)
        log_post, _ = _observed_log_posterior(gmm, xt[rows][:, obs], obs)
        out[rows] = torch.exp(log_post)
    return _like(out, x)


def _full_log_posterior(gmm: _GMM, x: Tensor, max_elements: int) -> Tensor:
    """log p(c | x) (M, C) for complete rows ``x`` (M, D), in chunks of rows."""
    factor = gmm.cholesky(gmm.covariances, "a component covariance")  # (C, D, D)
    eye = torch.eye(gmm.dim, dtype=torch.float64, device=x.device).expand_as(factor)
    inv_factor_t = torch.linalg.solve_triangular(factor, eye, upper=False).transpose(-1, -2)  # L^{-T}
    shift = (gmm.means[:, None, :] @ inv_factor_t)  # (C, 1, D): (L^{-1} mu_c)^T
    const = (
        gmm.log_weights
        - torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
        - 0.5 * gmm.dim * _LOG_2PI
    )  # (C,)
    rows_per_chunk = max(1, max_elements // (gmm.num_components * gmm.dim))
    out = torch.empty(x.shape[0], gmm.num_components, dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], rows_per_chunk):
        chunk = x[start : start + rows_per_chunk]
        z = chunk[None, :, :] @ inv_factor_t - shift  # (C, m, D): L^{-1}(x - mu_c)
        joint = const[:, None] - 0.5 * (z * z).sum(-1)  # (C, m)
        out[start : start + rows_per_chunk] = (joint - torch.logsumexp(joint, dim=0, keepdim=True)).T
    return out


def class_posterior_full(
    x: Tensor | np.ndarray,
    weights: Tensor | np.ndarray,
    means: Tensor | np.ndarray,
    covariances: Tensor | np.ndarray,
    *,
    max_elements: int = 1 << 22,
) -> Tensor | np.ndarray:
    r""":math:`p(c \mid x)` (..., C) for complete data ``x`` (..., D), e.g. imputations (N, B, D).

    The inverse Cholesky factors :math:`L_c^{-1}` of all covariances are computed once; then
    :math:`\log \mathcal N(x; \mu_c, \Sigma_c) = -\tfrac12\|L_c^{-1}x - L_c^{-1}\mu_c\|^2 -
    \sum_i \log L_{c,ii} - \tfrac D2 \log 2\pi` for a chunk of rows at a time (at most
    ``max_elements`` float64 values per intermediate (C, rows, D) array, 32 MiB by default).
    """
    gmm = _GMM(weights, means, covariances)
    xt = _as_tensor(x, "x")
    if xt.dim() < 1 or xt.shape[-1] != gmm.dim:
        raise ValueError(f"x must have shape (..., {gmm.dim}), got {tuple(xt.shape)}")
    if not bool(torch.isfinite(xt).all()):
        raise ValueError("x must be complete: it has NaN or infinite values")
    if max_elements < 1:
        raise ValueError(f"max_elements must be >= 1, got {max_elements}")
    flat = xt.reshape(-1, gmm.dim)
    post = torch.exp(_full_log_posterior(gmm, flat, max_elements))
    return _like(post.reshape(*xt.shape[:-1], gmm.num_components), x)


def rao_blackwell_class_posterior(
    imputations: Tensor | np.ndarray,
    weights: Tensor | np.ndarray,
    means: Tensor | np.ndarray,
    covariances: Tensor | np.ndarray,
    *,
    max_elements: int = 1 << 22,
) -> Tensor | np.ndarray:
    r"""Rao-Blackwellised :math:`\hat\pi_c = \frac1N \sum_n p(c \mid x^{(n)})` (B, C) (spec 3.2 (a)).

    ``imputations`` (N, B, D) are completed data points (observed entries kept, missing entries
    imputed); the average is over the N imputations of each point (all iterations of a run in the
    paper, warm-up included).
    """
    imp = _as_tensor(imputations, "imputations")
    if imp.dim() != 3:
        raise ValueError(f"imputations must have shape (N, B, D), got {tuple(imp.shape)}")
    if imp.shape[0] == 0:
        raise ValueError("no imputations to average over (N = 0)")
    post = class_posterior_full(imp, weights, means, covariances, max_elements=max_elements)
    return _like(post.mean(0), imputations)


# --- divergences between categoricals --------------------------------------------------------------


def categorical_divergences(
    p: Tensor | np.ndarray, q: Tensor | np.ndarray, *, floor: float = PROBABILITY_FLOOR
) -> dict[str, np.ndarray]:
    r"""KL(p‖q), KL(q‖p) and JSD between categorical distributions ``p`` and ``q`` (..., C), per row.

    .. math:: \mathrm{KL}(p\|q) = \sum_c p_c \log\frac{p_c}{q_c},\qquad
              \mathrm{JSD} = \tfrac12\mathrm{KL}(p\|m) + \tfrac12\mathrm{KL}(q\|m),\ m = \tfrac{p+q}2.

    The paper rounds probabilities to 1e-8 before multiplying (spec section 3.2 (a)); its exact
    rounding code is not available. Here every probability is first **raised to** ``floor``
    (default 1e-8), ``p ← max(p, floor)``, and each row is **renormalised** to sum to one; the
    divergences are then computed in float64 on these floored distributions. Zeros therefore
    never give inf or NaN (a missed class costs about ``log(p_c / floor)``), both inputs remain
    proper distributions so KL ≥ 0 and 0 ≤ JSD ≤ log 2, and rows whose entries are all ≥ ``floor``
    are used unchanged. Rounding noise is clipped: KL to ≥ 0 and JSD to [0, log 2].

    Inputs must be finite, non-negative and sum to 1 along the last axis (within 1e-6). Returns a
    dict of float64 numpy arrays of shape ``(...)``: ``kl_pq``, ``kl_qp``, ``jsd``.
    """
    pt, qt = _as_tensor(p, "p"), _as_tensor(q, "q")
    if pt.shape != qt.shape or pt.dim() < 1 or pt.shape[-1] == 0:
        raise ValueError(
            f"p and q must have the same shape (..., C) with C >= 1, got {tuple(pt.shape)} and {tuple(qt.shape)}"
        )
    if not 0.0 < floor < 1.0 / pt.shape[-1]:
        raise ValueError(f"floor must be in (0, 1/C), got {floor}")
    for t, name in ((pt, "p"), (qt, "q")):
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise ValueError(f"{name} must be finite and non-negative")
        if not bool(torch.allclose(t.sum(-1), torch.ones((), dtype=torch.float64), rtol=0.0, atol=1e-6)):
            raise ValueError(f"{name} must sum to 1 along the last axis")
    pf = pt.clamp_min(floor)
    pf = pf / pf.sum(-1, keepdim=True)
    qf = qt.clamp_min(floor)
    qf = qf / qf.sum(-1, keepdim=True)
    m = 0.5 * (pf + qf)

    def kl(a: Tensor, b: Tensor) -> Tensor:
        return (a * (torch.log(a) - torch.log(b))).sum(-1)

    jsd = (0.5 * kl(pf, m) + 0.5 * kl(qf, m)).clamp(0.0, math.log(2.0))
    return {
        "kl_pq": kl(pf, qf).clamp_min(0.0).cpu().numpy(),
        "kl_qp": kl(qf, pf).clamp_min(0.0).cpu().numpy(),
        "jsd": jsd.cpu().numpy(),
    }


# --- exact conditional samples ---------------------------------------------------------------------


def _sqrt_factor(cov: Tensor) -> Tensor:
    """A square root F with F F^T = cov for each (n, n) matrix of ``cov`` (C, n, n): the Cholesky
    factor, or V diag(sqrt(max(λ, 0))) from an eigendecomposition where Cholesky fails (a
    numerically semi-definite Schur complement)."""
    factor, info = torch.linalg.cholesky_ex(cov)
    bad = info != 0
    if bool(bad.any()):
        evals, evecs = torch.linalg.eigh(cov[bad])
        factor[bad] = evecs * evals.clamp_min(0.0).sqrt()[..., None, :]
    return factor


def sample_conditional(
    x: Tensor | np.ndarray,
    observed_mask: Tensor | np.ndarray,
    weights: Tensor | np.ndarray,
    means: Tensor | np.ndarray,
    covariances: Tensor | np.ndarray,
    num_samples: int,
    *,
    generator: torch.Generator,
) -> Tensor:
    r"""Exact samples (num_samples, B, D) from the GMM conditional :math:`p(x_m \mid x_o)`.

    For each point a component is drawn from :math:`p(c \mid x_o)`, then :math:`x_m` from the
    Gaussian conditional :math:`\mathcal N(\mu_{c,m|o}, \Sigma_{c,m|o})` (module docstring);
    observed entries are copied from ``x`` unchanged. Points sharing a mask are sampled together:
    per distinct mask (in ``np.unique`` order) one :func:`vaeinfer.random.multinomial` call of
    shape (G, num_samples) for the components and one :func:`vaeinfer.random.normal` call of shape
    (G, num_samples, |m|) for the standard normals, both from ``generator`` (a ``torch.Generator``
    on the device of the result; ``x`` is moved there). These are the reference samples of the
    per-point FID (spec section 3.2 (b)).
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    device = generator.device
    gmm = _GMM(weights, means, covariances, device)
    xt = _as_tensor(x, "x", device)
    _check_points(xt, gmm.dim)
    mask = _as_mask(observed_mask, tuple(xt.shape), device)
    if not bool(torch.isfinite(xt[mask]).all()):
        raise ValueError("x has NaN or infinite values at observed entries")
    S = int(num_samples)
    out = torch.where(mask, xt, torch.zeros((), dtype=torch.float64, device=device)).expand(S, -1, -1).clone()
    for obs_row, rows in _groups(mask):
        obs = torch.nonzero(obs_row).reshape(-1)
        mis = torch.nonzero(~obs_row).reshape(-1)
        if mis.numel() == 0:
            continue  # fully observed: nothing to sample
        x_o = xt[rows][:, obs]  # (G, k)
        log_post, factor_oo = _observed_log_posterior(gmm, x_o, obs)
        mu_m = gmm.means[:, mis]  # (C, dm)
        cov_mm = gmm.covariances[:, mis][:, :, mis]
        if factor_oo is None:  # nothing observed: the components themselves
            cond_mean = mu_m.expand(x_o.shape[0], -1, -1)  # (G, C, dm)
            cond_cov = cov_mm
        else:
            cov_om = gmm.covariances[:, obs][:, :, mis]  # (C, k, dm)
            gain_t = torch.cholesky_solve(cov_om, factor_oo)  # (C, k, dm) = Σ_oo^{-1} Σ_om
            resid = x_o[:, None, :] - gmm.means[None, :, obs]  # (G, C, k)
            cond_mean = mu_m[None] + torch.einsum("gck,ckm->gcm", resid, gain_t)
            cond_cov = cov_mm - cov_om.transpose(-1, -2) @ gain_t
            cond_cov = 0.5 * (cond_cov + cond_cov.transpose(-1, -2))
        root = _sqrt_factor(cond_cov)  # (C, dm, dm)
        G, dm = x_o.shape[0], mis.numel()
        comps = multinomial(torch.exp(log_post), S, generator=generator)  # (G, S)
        eps = normal(
            torch.zeros(G, S, dm, dtype=torch.float64, device=device),
            torch.ones((), dtype=torch.float64, device=device),
            generator=generator,
        )
        draws = torch.empty(G, S, dm, dtype=torch.float64, device=device)
        point = torch.arange(G, device=device)[:, None].expand(G, S)
        for c in range(gmm.num_components):
            sel = comps == c
            if bool(sel.any()):
                draws[sel] = cond_mean[point[sel], c] + eps[sel] @ root[c].T
        out[:, rows[:, None], mis[None, :]] = draws.transpose(0, 1)
    return out
