"""Models: the VAE protocol's helpers, networks, the toy VAE, the general VAE, a classifier, oracles."""

from vaeinfer.models.classifier import Classifier, ClassifierConfig
from vaeinfer.models.likelihood import per_feature_log_prob
from vaeinfer.models.networks import NetworkConfig, ResidualMLP, init_parameters
from vaeinfer.models.vae import VAE, VAEConfig, elbo_loss, linear_beta

__all__ = [
    "VAE",
    "Classifier",
    "ClassifierConfig",
    "NetworkConfig",
    "ResidualMLP",
    "VAEConfig",
    "elbo_loss",
    "init_parameters",
    "linear_beta",
    "per_feature_log_prob",
]
