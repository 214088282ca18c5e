"""The one-call API on a user-defined VAE, and its errors on bad input."""

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

import vaeinfer
from vaeinfer.missingness import toy_grid_test_points


class TinyVAE(nn.Module):
    """A user's own VAE: Gaussian prior, encoder and decoder from small linear maps."""

    latent_dim = 2

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.enc = nn.Parameter(torch.randn(3, 4, generator=g) * 0.3)
        self.dec = nn.Parameter(torch.randn(2, 6, generator=g) * 0.5)

    def prior(self):
        return Independent(Normal(torch.zeros(2), torch.ones(2)), 1)

    def encoder(self, x):
        loc, log_scale = (x @ self.enc).chunk(2, -1)
        return Independent(Normal(loc, log_scale.exp()), 1)

    def decoder(self, z):
        loc, log_scale = (z @ self.dec).chunk(2, -1)
        return Normal(loc, 0.3 + 0.1 * torch.sigmoid(log_scale))


@pytest.fixture
def data():
    x = torch.tensor([[0.5, float("nan"), -0.2], [float("nan"), float("nan"), 1.0]])
    return x, ~torch.isnan(x)


@pytest.mark.parametrize("sampler,options", [
    ("pseudo_gibbs", {}), ("mwg", {}), ("ac_mwg", {"prior_mixture_probability": 0.1}),
    ("lair", {"num_prior_components": 2, "num_final_samples": 7}),
])
def test_user_vae_runs_with_every_sampler(data, sampler, options):
    x, mask = data
    ds = vaeinfer.sample(TinyVAE(), x, mask, sampler, num_iterations=10, num_chains=3,
                         generator=torch.Generator().manual_seed(1), **options)
    imp = torch.as_tensor(ds["imputations"].values)
    assert imp.shape == (11, 2, 3, 3)
    observed = torch.broadcast_to(mask[None, :, None, :], imp.shape)
    assert torch.equal(imp[observed], torch.broadcast_to(x[None, :, None, :], imp.shape)[observed])
    assert torch.isfinite(imp).all()


def test_errors_name_the_problem(data):
    x, mask = data
    g = torch.Generator().manual_seed(0)
    model = TinyVAE()
    with pytest.raises(ValueError, match="unknown sampler 'liar'.*Did you mean 'lair'"):
        vaeinfer.sample(model, x, mask, "liar", num_iterations=1, generator=g)
    with pytest.raises(ValueError, match="unknown option 'eps'"):
        vaeinfer.sample(model, x, mask, "ac_mwg", num_iterations=1, generator=g, eps=0.1)
    with pytest.raises(ValueError, match=r"prior_mixture_probability must be in \[0, 1\]"):
        vaeinfer.sample(model, x, mask, "ac_mwg", num_iterations=1, generator=g, prior_mixture_probability=2.0)
    with pytest.raises(ValueError, match="shape"):
        vaeinfer.sample(model, x[0], mask[0], "mwg", num_iterations=1, generator=g)
    with pytest.raises(ValueError, match="differs from x shape"):
        vaeinfer.sample(model, x, mask[:, :2], "mwg", num_iterations=1, generator=g)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite values at observed entries"):
        vaeinfer.sample(model, bad, mask, "mwg", num_iterations=1, generator=g)
    with pytest.raises(ValueError, match="nothing missing"):
        vaeinfer.sample(model, torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), "mwg",
                        num_iterations=1, generator=g)
    with pytest.raises(TypeError, match="bool tensor"):
        vaeinfer.sample(model, x, mask.float(), "mwg", num_iterations=1, generator=g)


def test_toy_test_points_mark_the_missing_coordinate():
    x = toy_grid_test_points()
    assert x.shape == (14, 2)
    assert torch.isnan(x[:7, 0]).all() and torch.isnan(x[7:, 1]).all()
    assert x[3, 1] == 0.0 and x[10, 0] == 0.0 and x[5, 1] == 1.0  # pitfalls I, II, III
