"""Models: the VAE protocol's helpers, networks, the toy VAE, oracles with exact conditionals."""

from vaeinfer.models.likelihood import per_feature_log_prob
from vaeinfer.models.networks import ResidualMLP

__all__ = ["ResidualMLP", "per_feature_log_prob"]
