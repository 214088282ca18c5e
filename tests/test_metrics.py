"""Metrics against known answers: divergences of Gaussians, KDE, quadrature conditionals."""

import numpy as np
import pytest
import torch
from scipy import stats

from vaeinfer.metrics import conditional_density_by_quadrature, grid_divergences, kde_density
from vaeinfer.models.oracles import LinearGaussianVAE, gaussian_conditional

GRID = np.linspace(-8, 8, 8001)


def test_kl_and_jsd_of_gaussians_match_closed_form():
    grid = np.linspace(-15, 15, 20001)  # wide enough that both tails are negligible
    p = stats.norm.pdf(grid, 0.0, 1.0)
    q = stats.norm.pdf(grid, 0.5, 1.5)
    div = grid_divergences(p, q, grid, density_floor=1e-300)  # no floor: exact tails
    kl_pq = np.log(1.5 / 1.0) + (1.0 + 0.5**2) / (2 * 1.5**2) - 0.5
    kl_qp = np.log(1.0 / 1.5) + (1.5**2 + 0.5**2) / (2 * 1.0**2) - 0.5
    assert div["kl_pq"] == pytest.approx(kl_pq, rel=1e-5)
    assert div["kl_qp"] == pytest.approx(kl_qp, rel=1e-5)
    assert 0 < div["jsd"] < min(kl_pq, kl_qp)


def test_jsd_bounds():
    p = stats.norm.pdf(GRID, -5, 0.1)
    q = stats.norm.pdf(GRID, 5, 0.1)
    assert grid_divergences(p, q, GRID)["jsd"] == pytest.approx(np.log(2), abs=1e-6)
    assert grid_divergences(p, p, GRID)["jsd"] == pytest.approx(0.0, abs=1e-12)


def test_kde_of_many_gaussian_draws_is_close_to_the_density():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=50_000)
    grid = np.linspace(-5, 5, 1001)
    dens = kde_density(samples, grid, bandwidth=0.05)
    # JSD ~ chi^2 / 8: squared bias O(h^4) = 6e-6, variance O(1 / (n h)) = 4e-4, so JSD ~ 1e-4.
    assert grid_divergences(stats.norm.pdf(grid), dens, grid)["jsd"] < 1e-3


def test_kde_of_a_stuck_chain_is_a_finite_spike():
    dens = kde_density(np.full(1000, 0.3), GRID)
    assert np.all(np.isfinite(dens))
    assert GRID[np.argmax(dens)] == pytest.approx(0.3, abs=2e-3)
    div = grid_divergences(stats.norm.pdf(GRID), dens, GRID)
    assert div["jsd"] > 0.5 and np.isfinite(div["kl_pq"])


def test_quadrature_conditional_matches_linear_gaussian_closed_form():
    """1-D latent, 2-D data: p(x_m | x_o) is Gaussian in closed form."""
    W = torch.tensor([[1.5], [-0.8]], dtype=torch.float64)
    b = torch.tensor([0.2, -0.1], dtype=torch.float64)
    sigma = torch.tensor([0.4, 0.6], dtype=torch.float64)
    model = LinearGaussianVAE(W, b, sigma)
    x = torch.tensor([[float("nan"), 0.7], [-1.2, float("nan")]], dtype=torch.float64)
    mask = ~torch.isnan(x)
    result = conditional_density_by_quadrature(model, x, mask, GRID, np.linspace(-9, 9, 4001))
    for i in range(2):
        mu, cov = gaussian_conditional(b, W @ W.T + torch.diag(sigma**2), x[i], mask[i])
        exact = stats.norm.pdf(GRID, float(mu[0]), float(cov[0, 0]) ** 0.5)
        np.testing.assert_allclose(result.pdf[i], exact, atol=1e-6)
