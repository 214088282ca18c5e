"""Shared fixtures: small oracle VAEs whose conditionals are known exactly."""

import pytest
import torch

from vaeinfer.models.oracles import LinearGaussianVAE, OneDimLatentVAE


@pytest.fixture(scope="module")
def single_thread():
    """Run a module on one intra-op thread.

    With several threads, tiny tensors (e.g. LAIR's float64 softmaxes) open an OpenMP parallel
    region per op; on a busy 2-core machine that costs ~8 ms per call and makes LAIR 30x slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def linear_gaussian_model() -> LinearGaussianVAE:
    """L = 2, D = 4, float64.

    ``encoder_scale=1.5``: the exact posterior covariance S has correlation 0.40, so the diagonal
    encoder with scales sqrt(diag S) is *narrower* than p(z | x) along S's major axis; an
    independence proposal with lighter tails than its target is not uniformly ergodic (rare long
    rejection runs), which makes Monte Carlo standard errors unreliable. Scaling by 1.5
    (1.5^2 >= 1 + 0.40) makes the proposal dominate the target, so the importance ratio is bounded.
    """
    W = torch.tensor([[1.0, 0.5], [-0.7, 1.2], [0.8, -0.9], [0.3, 0.6]], dtype=torch.float64)
    b = torch.tensor([0.5, -0.3, 0.2, 1.0], dtype=torch.float64)
    sigma = torch.tensor([0.5, 0.6, 0.4, 0.7], dtype=torch.float64)
    return LinearGaussianVAE(W, b, sigma, encoder_scale=1.5)


@pytest.fixture(scope="session")
def linear_gaussian_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Three rows with different masks (row 0 has two missing features); NaN where missing."""
    nan = float("nan")
    x = torch.tensor(
        [[1.0, nan, -0.5, nan], [nan, -1.0, 0.9, 0.4], [-0.8, 0.7, nan, 2.0]], dtype=torch.float64
    )
    return x, ~torch.isnan(x)


@pytest.fixture(scope="session")
def one_dim_model() -> OneDimLatentVAE:
    return OneDimLatentVAE(dtype=torch.float64)


@pytest.fixture(scope="session")
def one_dim_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Rows with exactly one missing feature each (for the quadrature reference)."""
    nan = float("nan")
    x = torch.tensor([[1.0, nan], [nan, 0.7], [-1.3, nan]], dtype=torch.float64)
    return x, ~torch.isnan(x)
