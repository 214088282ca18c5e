r"""A classifier returning logits, used for FID features (MNIST-GMM: its 10 logits; spec 2.2, 3.2).

The network (a residual MLP or a ResNet encoder, selected by
:class:`~vaeinfer.models.networks.NetworkConfig`) maps flattened data ``(..., D)`` to logits
``(..., C)``; :math:`p(c \mid x) = \operatorname{softmax}(\ell(x))_c`. It is trained by
minimising the cross-entropy :math:`-\frac{1}{n} \sum_i \log p(c_i \mid x_i)`
(:func:`cross_entropy_loss`, usable with :func:`vaeinfer.training.fit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaeinfer.models.networks import NetworkConfig, build_feature_network

__all__ = ["Classifier", "ClassifierConfig", "accuracy", "cross_entropy_loss"]


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """Architecture of a :class:`Classifier`.

    Attributes:
        data_dim: number of (flattened) input features D.
        num_classes: number of classes C (>= 2).
        network: the network from x to the C logits.
    """

    data_dim: int
    num_classes: int
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        if self.data_dim < 1:
            raise ValueError(f"data_dim must be >= 1, got {self.data_dim}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        self.network.check_data_dim(self.data_dim, "classifier network")


class Classifier(nn.Module):
    """``forward(x)``: logits ``(..., num_classes)`` for data ``(..., D)``.

    Parameters start uninitialised: call :func:`~vaeinfer.models.networks.init_parameters` with a
    generator, or load a checkpoint.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.net = build_feature_network(config.network, config.data_dim, config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def features(self, x: Tensor) -> Tensor:
        """FID features: the logits."""
        return self.net(x)


def cross_entropy_loss(model: nn.Module, batch: tuple[Tensor, ...], generator: torch.Generator) -> Tensor:
    """Mean cross-entropy of the labels ``batch[1]`` (int64, ``(n,)``) given ``batch[0]`` ``(n, D)``.

    ``generator`` is unused (the loss draws no random numbers; dropout draws from the generator
    that :func:`vaeinfer.training.fit` binds); it is there for ``fit``'s loss signature.
    """
    x, labels = batch[0], batch[1]
    return F.cross_entropy(model(x), labels.to(torch.long))


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, labels: Tensor) -> float:
    """Fraction of rows whose arg-max logit is the label (call with the model in eval mode)."""
    return float((model(x).argmax(-1) == labels).to(torch.float64).mean())
