"""Small residual convolutional networks for image VAEs and classifiers (spec sections 2.2, 2.3).

Both networks read and write *flattened* data: an input of shape ``(..., D)`` with
``D = C * H * W`` is reshaped internally to ``(N, C, H, W)`` (``N`` the product of the leading
dimensions) and the output is reshaped back, so the networks accept any number of leading batch
dimensions like the MLPs do.

Building blocks (He et al. 2016, "BasicBlock"), all layers created uninitialised and initialised by
:func:`~vaeinfer.models.networks.init_parameters` from an explicit generator:

* :class:`BasicBlock`: ``conv3x3(stride) - BN - ReLU - ChannelDropout - conv3x3 - BN``, plus the
  input (or ``conv1x1(stride) - BN`` of it when the shape changes), then ReLU.
* :class:`ResNetEncoder`: ``conv3x3 - BN - ReLU``, stages of BasicBlocks (the first block of every
  stage after the first has stride 2), global average pool, linear head.
* :class:`ResNetDecoder`: linear layer to a ``stem_channels x s x s`` map (ReLU), stages of
  BasicBlocks, each stage but the last preceded by x2 nearest-neighbour upsampling and, when the
  map is not the size the remaining upsamplings need, a nearest-neighbour resize; a final 3x3
  convolution gives the likelihood parameters per pixel.

BatchNorm uses batch statistics in training mode and its running statistics in eval mode, so a
model in eval mode is a deterministic function of its input.

Nearest-neighbour resizing is done with 0/1 selection matrices (``R_h @ h @ R_w^T``) rather than
``F.interpolate``: the same numbers as ``F.interpolate(mode="nearest")``, but the backward pass
is a matrix product, which is deterministic on CUDA (scatter-add backward kernels are not).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaeinfer.models.networks import ChannelDropout, NetworkConfig, conv2d, linear

__all__ = ["BasicBlock", "ResNetDecoder", "ResNetEncoder", "decoder_stage_sizes", "resize_nearest"]


def _selection_matrix(out_size: int, in_size: int, like: Tensor) -> Tensor:
    """``(out_size, in_size)`` 0/1 matrix picking source row ``floor(i * in / out)`` for row ``i``."""
    src = torch.div(torch.arange(out_size, device=like.device) * in_size, out_size, rounding_mode="floor")
    return (src[:, None] == torch.arange(in_size, device=like.device)[None, :]).to(like.dtype)


def resize_nearest(h: Tensor, size: tuple[int, int]) -> Tensor:
    """Nearest-neighbour resize of ``(N, C, H, W)`` to ``(N, C, *size)``.

    Output pixel ``(i, j)`` copies input pixel ``(floor(i H / H'), floor(j W / W'))``, PyTorch's
    ``mode="nearest"`` rule; x2 upsampling is the special case ``size = (2H, 2W)``.
    """
    out_h, out_w = size
    in_h, in_w = h.shape[-2:]
    if (out_h, out_w) == (in_h, in_w):
        return h
    rows = _selection_matrix(out_h, in_h, h)
    cols = _selection_matrix(out_w, in_w, h)
    return rows @ h @ cols.T


class BasicBlock(nn.Module):
    """``relu(BN(conv3x3(drop(relu(BN(conv3x3_stride(h)))))) + shortcut(h))``.

    ``shortcut`` is the identity, or ``BN(conv1x1_stride(h))`` when the stride or the number of
    channels changes. Dropout zeroes whole channels (Dropout2d semantics) with a bound generator.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.dropout = ChannelDropout(dropout)
        self.conv2 = conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        out = self.dropout(torch.relu(self.bn1(self.conv1(h))))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(h))


def _stage(in_channels: int, out_channels: int, num_blocks: int, *, stride: int, dropout: float) -> nn.Sequential:
    blocks = [BasicBlock(in_channels, out_channels, stride=stride, dropout=dropout)]
    blocks += [BasicBlock(out_channels, out_channels, dropout=dropout) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


class ResNetEncoder(nn.Module):
    """Image ``(..., C*H*W)`` -> vector ``(..., out_features)``.

    ``conv3x3(C -> stem) - BN - ReLU``; stage ``k`` has ``blocks_per_stage[k]`` BasicBlocks of width
    ``channels[k]``, the first with stride 2 for ``k >= 1`` (so ``H`` becomes ``ceil(H / 2)`` per
    stage); then the spatial mean and a linear layer. With image_shape 14x14 and four stages the
    maps are 14, 7, 4, 2 pixels wide; with 8x8: 8, 4, 2, 1.
    """

    def __init__(self, config: NetworkConfig, out_features: int) -> None:
        super().__init__()
        if config.type != "resnet":
            raise ValueError(f"ResNetEncoder needs a network config of type 'resnet', got {config.type!r}")
        self.image_chw = config.image_chw
        stem = config.stem_channels or config.channels[0]
        self.stem = nn.Sequential(
            conv2d(self.image_chw[0], stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU()
        )
        stages, width = [], stem
        for k, (ch, nb) in enumerate(zip(config.channels, config.blocks_per_stage, strict=True)):
            stages.append(_stage(width, ch, nb, stride=1 if k == 0 else 2, dropout=config.dropout))
            width = ch
        self.stages = nn.Sequential(*stages)
        self.head = linear(width, out_features)
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        h = self.stages(self.stem(x.reshape(-1, *self.image_chw)))
        return self.head(h.mean(dim=(-2, -1))).reshape(*lead, self.out_features)


def decoder_stage_sizes(size: int, num_stages: int) -> list[int]:
    """The side of the map entering each decoder stage, so the last stage works at ``size``.

    Every stage but the last doubles the map, so stage ``k`` needs ``ceil(s_{k+1} / 2)``:
    14 with four stages gives ``[2, 4, 7, 14]``, 28 gives ``[4, 7, 14, 28]``, 8 gives ``[1, 2, 4, 8]``.
    """
    sizes = [size]
    for _ in range(num_stages - 1):
        sizes.insert(0, math.ceil(sizes[0] / 2))
    return sizes


class ResNetDecoder(nn.Module):
    """Latent ``(..., L)`` -> per-pixel parameters, flattened to ``(..., P*C*H*W)``.

    A linear layer maps z to a ``stem_channels x s0 x s0`` map (ReLU), with ``s0 = initial_size``
    or the first entry of :func:`decoder_stage_sizes`. Stage ``k`` (of ``n``) first resizes the map
    to the size it needs when it does not have it (never for ``k = 0``), then upsamples x2 if
    ``k < n - 1``, then applies its BasicBlocks of width ``channels[k]``. A final 3x3 convolution
    gives ``P * C`` output channels (``P = params_per_feature``: 2 for a Gaussian's location and
    raw scale, 1 for Bernoulli logits), flattened row-major from ``(P * C, H, W)``, so that
    parameter ``p`` of all features is the contiguous block ``[p * D, (p + 1) * D)``.

    Examples (four stages): 14x14 with ``initial_size=3``: 3 -> 6 -> (resize 4) -> 8 ->
    (resize 7) -> 14 -> 14 (MNIST-GMM); 28x28 with the default ``s0 = 4``: 4 -> 8 -> (resize 7)
    -> 14 -> 28 -> 28 (Omniglot).
    """

    def __init__(self, config: NetworkConfig, latent_dim: int, params_per_feature: int) -> None:
        super().__init__()
        if config.type != "resnet":
            raise ValueError(f"ResNetDecoder needs a network config of type 'resnet', got {config.type!r}")
        c, h, w = config.image_chw
        self.image_hw = (h, w)
        n = len(config.channels)
        self.stage_sizes = list(zip(decoder_stage_sizes(h, n), decoder_stage_sizes(w, n), strict=True))
        s0 = config.initial_size
        self.initial_hw = self.stage_sizes[0] if s0 is None else (s0, s0)
        self.stem_channels = config.stem_channels or config.channels[0]
        self.stem = linear(latent_dim, self.stem_channels * self.initial_hw[0] * self.initial_hw[1])
        stages, width = [], self.stem_channels
        for ch, nb in zip(config.channels, config.blocks_per_stage, strict=True):
            stages.append(_stage(width, ch, nb, stride=1, dropout=config.dropout))
            width = ch
        self.stages = nn.ModuleList(stages)
        self.out_channels = params_per_feature * c
        self.out = conv2d(width, self.out_channels, 3, padding=1, bias=True)

    def forward(self, z: Tensor) -> Tensor:
        lead = z.shape[:-1]
        h = torch.relu(self.stem(z.reshape(-1, z.shape[-1])))
        h = h.reshape(-1, self.stem_channels, *self.initial_hw)
        last = len(self.stages) - 1
        for k, stage in enumerate(self.stages):
            if k > 0:
                h = resize_nearest(h, self.stage_sizes[k])
            if k < last:
                h = resize_nearest(h, (2 * h.shape[-2], 2 * h.shape[-1]))
            h = stage(h)
        h = self.out(resize_nearest(h, self.image_hw))
        return h.reshape(*lead, -1)
