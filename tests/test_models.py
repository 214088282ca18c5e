"""The general VAE, the ResNets, the classifier, init reproducibility, the ELBO and checkpoints."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal

from vaeinfer import random as vrandom
from vaeinfer.config import ConfigError, from_dict, to_dict
from vaeinfer.models.checkpoints import MODEL_TYPES, load_checkpoint, save_checkpoint
from vaeinfer.models.classifier import Classifier, ClassifierConfig
from vaeinfer.models.networks import ChannelDropout, NetworkConfig, bind_generator, init_parameters
from vaeinfer.models.resnet import ResNetDecoder, decoder_stage_sizes, resize_nearest
from vaeinfer.models.vae import VAE, VAEConfig, elbo_loss, elbo_samples, linear_beta
from vaeinfer.types import VAE as VAEProtocol

pytestmark = pytest.mark.usefixtures("single_thread")

MLP = NetworkConfig(type="residual_mlp", width=16, num_blocks=2, dropout=0.1)


def tiny_resnet(image_shape, **kw) -> NetworkConfig:
    return NetworkConfig(type="resnet", image_shape=image_shape, channels=(4, 6, 8), blocks_per_stage=(1, 1, 1),
                         dropout=0.2, **kw)


CONFIGS = {
    "mlp-gaussian": VAEConfig(data_dim=5, latent_dim=3, likelihood="gaussian", encoder=MLP, decoder=MLP),
    "mlp-bernoulli": VAEConfig(data_dim=5, latent_dim=3, likelihood="bernoulli", encoder=MLP,
                               decoder=NetworkConfig(width=8, num_blocks=1)),
    "resnet-gaussian-8x8": VAEConfig(data_dim=64, latent_dim=4, likelihood="gaussian",
                                     encoder=tiny_resnet((8, 8)), decoder=tiny_resnet((8, 8))),
    "resnet-bernoulli-14x14": VAEConfig(data_dim=196, latent_dim=4, likelihood="bernoulli",
                                        encoder=tiny_resnet((1, 14, 14)),
                                        decoder=tiny_resnet((14, 14), initial_size=3, stem_channels=5)),
    "resnet-gaussian-2x6x5": VAEConfig(data_dim=60, latent_dim=2, encoder=tiny_resnet((2, 6, 5)),
                                       decoder=tiny_resnet((2, 6, 5))),
}


def build(config, seed=0):
    model = VAE(config) if isinstance(config, VAEConfig) else Classifier(config)
    return init_parameters(model, generator=vrandom.make_generator(seed))


def data_for(config: VAEConfig, shape, seed=1):
    g = vrandom.make_generator(seed)
    if config.likelihood == "bernoulli":
        return (torch.rand(*shape, config.data_dim, generator=g) < 0.3).float()
    return torch.randn(*shape, config.data_dim, generator=g)


# --- protocol, shapes, determinism ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
def test_protocol_shapes_with_leading_dims(name):
    config = CONFIGS[name]
    model = build(config).eval()
    L, D = config.latent_dim, config.data_dim
    assert isinstance(model, VAEProtocol) and model.latent_dim == L
    prior = model.prior()
    assert prior.batch_shape == () and prior.event_shape == (L,)
    x = data_for(config, (3, 2))
    q = model.encoder(x)
    assert q.batch_shape == (3, 2) and q.event_shape == (L,)
    assert model.encoder_features(x).shape == (3, 2, 2 * L)
    z = vrandom.draw(q, generator=vrandom.make_generator(2))
    p = model.decoder(z)
    assert p.batch_shape == (3, 2, D) and p.event_shape == ()
    assert p.log_prob(x).shape == (3, 2, D) and torch.isfinite(p.log_prob(x)).all()
    # leading dims are only a batch: the same rows flattened give the same numbers
    flat = model.encoder_features(x.reshape(6, D)).reshape(3, 2, 2 * L)
    torch.testing.assert_close(flat, model.encoder_features(x), rtol=1e-5, atol=1e-6)
    # eval mode is deterministic (dropout off, BatchNorm running statistics)
    assert torch.equal(model.encoder_features(x), model.encoder_features(x))
    assert torch.equal(model.decoder_net(z), model.decoder_net(z))
    # the scale of q is softplus(raw) + min_scale
    raw = model.encoder_features(x)[..., L:]
    torch.testing.assert_close(q.base_dist.scale, F.softplus(raw) + config.min_scale)


@pytest.mark.parametrize("name", ["mlp-gaussian", "resnet-bernoulli-14x14"])
def test_training_mode_dropout_uses_the_bound_generator(name):
    config = CONFIGS[name]
    model = build(config).train()
    x = data_for(config, (4,))
    with pytest.raises(RuntimeError, match="generator"):
        model.encoder_features(x)

    def run(seed):
        with bind_generator(model, vrandom.make_generator(seed)):
            return model.encoder_features(x)

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))


def test_channel_dropout_drops_whole_channels():
    layer = ChannelDropout(0.5).train()
    h = torch.ones(64, 8, 3, 3)
    with bind_generator(layer, vrandom.make_generator(0)):
        out = layer(h)
    per_channel = out.flatten(2)
    assert torch.equal(per_channel.amin(-1), per_channel.amax(-1))  # constant within a channel
    assert set(per_channel.unique().tolist()) == {0.0, 2.0}
    assert abs(float((out == 0).float().mean()) - 0.5) < 0.05


def test_resnet_decoder_stage_sizes_and_resize():
    assert decoder_stage_sizes(14, 4) == [2, 4, 7, 14]
    assert decoder_stage_sizes(28, 4) == [4, 7, 14, 28]
    assert decoder_stage_sizes(8, 4) == [1, 2, 4, 8]
    h = torch.randn(2, 3, 5, 4, generator=vrandom.make_generator(0))
    for size in [(10, 8), (7, 3), (4, 4), (5, 4)]:
        assert torch.equal(resize_nearest(h, size), F.interpolate(h, size=size, mode="nearest"))
    # MNIST-GMM: 3 -> 6 -> (resize 4) -> 8 -> (resize 7) -> 14 -> 14; Omniglot: 4 -> 8 -> (7) -> 14 -> 28 -> 28
    for image, initial, expected in [(14, 3, [6, 8, 14, 14]), (28, None, [8, 14, 28, 28])]:
        cfg = NetworkConfig(type="resnet", image_shape=(image, image), channels=(4, 4, 4, 4),
                            blocks_per_stage=(1, 1, 1, 1), initial_size=initial)
        decoder = init_parameters(ResNetDecoder(cfg, 3, 2), generator=vrandom.make_generator(0)).eval()
        sizes = []
        for stage in decoder.stages:
            stage.register_forward_hook(lambda m, i, o, sizes=sizes: sizes.append(o.shape[-1]))
        out = decoder(torch.zeros(5, 3))
        assert sizes == expected and out.shape == (5, 2 * image * image)


def test_init_is_reproducible_and_independent_of_the_global_rng():
    def params(global_seed, seed=0):
        torch.manual_seed(global_seed)
        model = build(CONFIGS["resnet-bernoulli-14x14"], seed)
        torch.manual_seed(global_seed + 1)
        return model.state_dict()

    a, b, c = params(1), params(12345), params(1, seed=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)
    before = torch.random.get_rng_state()
    for config in CONFIGS.values():
        build(config)
    build(ClassifierConfig(data_dim=64, num_classes=3, network=tiny_resnet((8, 8))))
    assert torch.equal(before, torch.random.get_rng_state())


def test_conv_init_uses_pytorch_default_bounds():
    model = build(CONFIGS["resnet-gaussian-8x8"])
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs
    for conv in convs:
        bound = 1 / math.sqrt(conv.in_channels * math.prod(conv.kernel_size))
        assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.5 * bound
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="unknown network type 'cnn'"):
        NetworkConfig(type="cnn")
    with pytest.raises(ConfigError, match="must be one of"):
        from_dict(VAEConfig, {"data_dim": 4, "latent_dim": 2, "encoder": {"type": "cnn"}})
    with pytest.raises(ValueError, match=r"image_shape \(8, 8\) has 64 values but data_dim is 63"):
        VAEConfig(data_dim=63, latent_dim=2, encoder=tiny_resnet((8, 8)))
    with pytest.raises(ValueError, match="needs image_shape"):
        NetworkConfig(type="resnet", channels=(4,), blocks_per_stage=(1,))
    with pytest.raises(ValueError, match="blocks_per_stage"):
        NetworkConfig(type="resnet", image_shape=(4, 4), channels=(4, 8), blocks_per_stage=(1,))
    with pytest.raises(ValueError, match="unknown likelihood"):
        VAEConfig(data_dim=4, latent_dim=2, likelihood="poisson")
    with pytest.raises(ValueError, match="num_classes"):
        ClassifierConfig(data_dim=4, num_classes=1)


def test_config_dict_round_trip():
    config = CONFIGS["resnet-bernoulli-14x14"]
    assert from_dict(VAEConfig, to_dict(config)) == config


# --- ELBO against exact answers ---------------------------------------------------------------------


class LinearGaussianWithEncoder(nn.Module):
    """z ~ N(0, I), x | z ~ N(W z + b, sigma^2 I); encoder q(z | x) = N(A x + c, diag(s^2)), trainable.

    W's columns are orthogonal, so the exact posterior N(S W^T (x - b) / sigma^2, S) with
    S = (I + W^T W / sigma^2)^-1 is diagonal and the encoder can represent it exactly.
    """

    def __init__(self, exact: bool = True):
        super().__init__()
        dt = torch.float64
        self.latent_dim = 2
        self.W = torch.tensor([[1.0, 1.0], [1.0, -1.0], [0.0, 1.0]], dtype=dt)  # columns orthogonal
        self.b = torch.tensor([0.3, -0.2, 0.5], dtype=dt)
        self.sigma = 0.6
        S = torch.linalg.inv(torch.eye(2, dtype=dt) + self.W.T @ self.W / self.sigma**2)
        assert torch.allclose(S, torch.diag(torch.diagonal(S)))
        A = S @ self.W.T / self.sigma**2
        c = -A @ self.b
        s = torch.sqrt(torch.diagonal(S))
        if not exact:
            A, c, s = A * 0.8 + 0.05, c + 0.3, s * torch.tensor([1.7, 0.6], dtype=dt)
        self.A, self.c, self.log_s = nn.Parameter(A), nn.Parameter(c), nn.Parameter(s.log())

    def prior(self):
        zeros = torch.zeros(2, dtype=torch.float64)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def encoder(self, x):
        loc = x @ self.A.T + self.c
        return Independent(Normal(loc, self.log_s.exp().expand_as(loc)), 1)

    def decoder(self, z):
        loc = z @ self.W.T + self.b
        return Normal(loc, torch.full_like(loc, self.sigma))

    def log_marginal(self, x):
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(3, dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x)

    def closed_form_elbo(self, x):
        """E_q log p(x|z) - KL(q || p) for q = N(m, diag(s^2))."""
        with torch.no_grad():
            m, s2 = x @ self.A.T + self.c, (2 * self.log_s).exp()
            resid = x - (m @ self.W.T + self.b)
            trace = (self.W**2 @ s2)  # diag(W diag(s2) W^T), (D,)
            lik = (-0.5 * math.log(2 * math.pi * self.sigma**2) - (resid**2 + trace) / (2 * self.sigma**2)).sum(-1)
            kl = 0.5 * (s2 + m**2 - 1 - s2.log()).sum(-1)
            return lik - kl


X_LG = torch.tensor([[0.5, -1.0, 1.2], [2.0, 0.3, -0.4], [-1.5, 0.0, 0.8]], dtype=torch.float64)


def test_elbo_equals_log_marginal_for_the_exact_posterior():
    model = LinearGaussianWithEncoder(exact=True)
    values = elbo_samples(model, X_LG, num_latent_samples=50, generator=vrandom.make_generator(0))
    assert values.shape == (50, 3)
    expected = model.log_marginal(X_LG).expand(50, 3)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-10)  # zero variance
    loss = elbo_loss(model, X_LG, num_latent_samples=4, generator=vrandom.make_generator(1))
    torch.testing.assert_close(loss, -model.log_marginal(X_LG).mean(), rtol=0, atol=1e-10)


def test_elbo_monte_carlo_matches_closed_form_within_5_standard_errors():
    model = LinearGaussianWithEncoder(exact=False)
    values = elbo_samples(model, X_LG, num_latent_samples=4000, generator=vrandom.make_generator(3))
    mean, se = values.mean(0), values.std(0) / math.sqrt(values.shape[0])
    exact = model.closed_form_elbo(X_LG)
    assert (se > 0).all()
    assert ((mean - exact).abs() < 5 * se).all(), (mean, exact, se)
    assert (exact < model.log_marginal(X_LG)).all()  # a strict bound for an inexact encoder
    # beta weights only log q - log p(z); the KL is E_q[log q - log p] = KL(q || p)
    values_b = elbo_samples(model, X_LG, num_latent_samples=4000, generator=vrandom.make_generator(3), beta=0.25)
    m, s2 = X_LG @ model.A.T + model.c, (2 * model.log_s).exp()
    kl = (0.5 * (s2 + m**2 - 1 - s2.log()).sum(-1)).detach()
    log_ratio = (values_b - values) / 0.75  # same eps: per-sample log q - log p(z)
    se_kl = log_ratio.std(0) / math.sqrt(values.shape[0])
    assert ((log_ratio.mean(0) - kl).abs() < 5 * se_kl).all()


def test_stl_gradient_vanishes_for_the_exact_posterior():
    model = LinearGaussianWithEncoder(exact=True)
    loss = elbo_loss(model, X_LG, num_latent_samples=3, generator=vrandom.make_generator(4), stl=True)
    grads = torch.autograd.grad(loss, [model.A, model.c, model.log_s])
    assert max(float(g.abs().max()) for g in grads) < 1e-10
    # the standard (score-function-including) estimator has a nonzero gradient per sample
    loss = elbo_loss(model, X_LG, num_latent_samples=3, generator=vrandom.make_generator(4), stl=False)
    grads = torch.autograd.grad(loss, [model.A, model.c, model.log_s])
    assert max(float(g.abs().max()) for g in grads) > 1e-3


def test_train_noise_only_in_training_mode():
    config = CONFIGS["mlp-gaussian"]
    model = build(config)
    x = data_for(config, (6,))

    def loss(noise):
        with bind_generator(model, vrandom.make_generator(9)):
            return elbo_loss(model, x, num_latent_samples=2, generator=vrandom.make_generator(8),
                             train_noise_std=noise)

    model.eval()
    assert torch.equal(loss(0.0), loss(0.5))
    model.train()
    assert not torch.equal(loss(0.0), loss(0.5))
    with pytest.raises(ValueError, match="train_noise_std"):
        loss(-1.0)


@pytest.mark.parametrize("name", ["mlp-bernoulli", "resnet-gaussian-8x8"])
def test_elbo_loss_backpropagates_through_real_vaes(name):
    config = CONFIGS[name]
    model = build(config).train()
    x = data_for(config, (5,))
    with bind_generator(model, vrandom.make_generator(0)):
        loss = elbo_loss(model, x, num_latent_samples=2, generator=vrandom.make_generator(1))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_linear_beta():
    assert [linear_beta(s, 10, 20) for s in (0, 9, 10, 15, 20, 30)] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    assert linear_beta(4, 5, 5) == 0.0 and linear_beta(5, 5, 5) == 1.0


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_type, config",
    [("vae", CONFIGS["mlp-gaussian"]), ("vae", CONFIGS["resnet-bernoulli-14x14"]),
     ("classifier", ClassifierConfig(data_dim=64, num_classes=10, network=tiny_resnet((8, 8)))),
     ("classifier", ClassifierConfig(data_dim=5, num_classes=3, network=MLP))],
)
def test_checkpoint_round_trip(tmp_path, model_type, config):
    assert model_type in MODEL_TYPES
    model = build(config).train()
    data_dim = config.data_dim
    x = torch.randn(7, data_dim, generator=vrandom.make_generator(0))
    with bind_generator(model, vrandom.make_generator(1)), torch.no_grad():
        model(x) if model_type == "classifier" else model.encoder_features(x)  # updates BatchNorm running stats
    model.eval()
    save_checkpoint(tmp_path / "m.pt", model, model_type, note="hi")
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["note"] == "hi" and loaded.config == config and not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    if model_type == "classifier":
        assert torch.equal(model(x), loaded(x))
        assert torch.equal(model.features(x), loaded(x))
    else:
        assert torch.equal(model.encoder_features(x), loaded.encoder_features(x))
        z = torch.randn(3, config.latent_dim, generator=vrandom.make_generator(2))
        assert torch.equal(model.decoder_net(z), loaded.decoder_net(z))
