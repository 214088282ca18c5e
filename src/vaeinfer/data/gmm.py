"""Class-conditional Gaussian mixtures fitted to images: the construction of MNIST-GMM (seed000.md §2.2).

The recipe, written generically so that the offline stand-in (8x8 digits) runs the same code:

1. integer images ``k`` in {0, ..., L - 1} (MNIST: L = 256, after a nearest-neighbour resize
   28 -> 14 done *before* dequantisation, :func:`resize_nearest`);
2. dequantise, :func:`dequantise`: ``x = (k + u) / L`` with ``u ~ U(0, 1)``, so ``x`` in [0, 1)
   has a density (for MNIST this is the spec's ``(x * 255 + u) / 256``). The original draws ``u``
   from an unseeded RNG; here it comes from an explicit ``torch.Generator``;
3. logit transform, :func:`logit_transform`: ``y = logit(alpha + (1 - 2 alpha) x)`` with
   alpha = 0.15, so Gaussian tails are valid in ``y``; its inverse is the clipped sigmoid
   :func:`inverse_logit_transform`;
4. fit one full-covariance Gaussian per class, :func:`fit_class_gaussians`: the class mean and
   the unbiased sample covariance (``np.cov``), equal weights 1 / C;
5. sample the data set from that mixture, :func:`sample_class_gaussians`, with the component
   labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch
from torch import Tensor

from vaeinfer import random as vrandom

__all__ = [
    "ClassGaussians",
    "GMMSplits",
    "build_class_gmm",
    "dequantise",
    "fit_class_gaussians",
    "inverse_logit_transform",
    "logit_transform",
    "resize_nearest",
    "sample_class_gaussians",
]

A = TypeVar("A", np.ndarray, Tensor)


class ClassGaussians(NamedTuple):
    """A mixture of full-covariance Gaussians, one component per class (float64).

    Attributes:
        weights: (C,) mixture weights.
        means: (C, D) component means.
        covariances: (C, D, D) component covariances.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def cholesky(self) -> np.ndarray:
        """(C, D, D) lower Cholesky factors; ValueError naming the component if one is not positive definite."""
        factors = np.empty_like(self.covariances)
        for c, cov in enumerate(self.covariances):
            try:
                factors[c] = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"the covariance of component {c} is not positive definite; a full covariance in "
                    f"D = {cov.shape[0]} dimensions needs more than D distinct points per class"
                ) from None
        return factors

    def mean(self) -> np.ndarray:
        """The mixture's mean, sum_c w_c mu_c."""
        return self.weights @ self.means


def logit_transform(x01: A, alpha: float = 0.15) -> A:
    """``y = logit(alpha + (1 - 2 alpha) x)`` for ``x`` in [0, 1] (numpy array or tensor).

    Squeezing [0, 1] into [alpha, 1 - alpha] keeps ``y`` finite (|y| <= logit(1 - alpha)).
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    p = alpha + (1.0 - 2.0 * alpha) * x01
    if isinstance(p, Tensor):
        return torch.logit(p)
    return np.log(p) - np.log1p(-p)


def inverse_logit_transform(y: A, alpha: float = 0.15) -> A:
    """``x = clip((sigmoid(y) - alpha) / (1 - 2 alpha), 0, 1)``: the inverse of :func:`logit_transform`.

    Values of ``y`` outside the transform's range (possible for Gaussian samples) map to 0 or 1.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    if isinstance(y, Tensor):
        return ((torch.sigmoid(y) - alpha) / (1.0 - 2.0 * alpha)).clamp(0.0, 1.0)
    sig = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(y)))  # overflow-free sigmoid
    return np.clip((sig - alpha) / (1.0 - 2.0 * alpha), 0.0, 1.0)


def resize_nearest(images: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of ``images`` (N, H, W) to (N, h, w), keeping the dtype.

    Source index of output pixel ``i``: ``min(floor(i * (H / h)), H - 1)`` computed in float32,
    the convention of ``torch.nn.functional.interpolate(mode="nearest")`` (and of torchvision's
    tensor resize). For MNIST 28 -> 14 it keeps pixels 0, 2, ..., 26; for Omniglot 105 -> 28 it
    keeps floor(3.75 i).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {(h, w)}")

    def index(out: int, src: int) -> np.ndarray:
        scale = np.float32(src) / np.float32(out)
        return np.minimum(np.floor(np.arange(out, dtype=np.float32) * scale).astype(np.int64), src - 1)

    return images[:, index(h, images.shape[1])][:, :, index(w, images.shape[2])]


def dequantise(
    images_int: np.ndarray | Tensor, num_levels: int, *, generator: torch.Generator
) -> np.ndarray:
    """Uniform dequantisation ``x = (k + u) / L``, ``u ~ U(0, 1)`` i.i.d., of integers ``k`` in {0..L-1}.

    Returns float64 values in [0, 1) of the same shape. One uniform is drawn per entry, in
    row-major order, from ``generator``.
    """
    k = torch.as_tensor(np.asarray(images_int) if not isinstance(images_int, Tensor) else images_int)
    if k.dtype.is_floating_point:
        if not bool((k == k.round()).all()):
            raise ValueError("dequantise expects integer-valued images")
    elif k.dtype == torch.bool:
        raise ValueError("dequantise expects integer images, got booleans")
    k = k.to(torch.float64)
    if num_levels < 2:
        raise ValueError(f"num_levels must be >= 2, got {num_levels}")
    if k.numel() and (float(k.min()) < 0 or float(k.max()) > num_levels - 1):
        raise ValueError(
            f"image values must lie in 0..{num_levels - 1}, got range [{float(k.min())}, {float(k.max())}]"
        )
    u = vrandom.uniform(tuple(k.shape), generator=generator, like=k)
    return ((k + u) / num_levels).numpy()


def fit_class_gaussians(y: np.ndarray, labels: np.ndarray, num_classes: int) -> ClassGaussians:
    """One Gaussian per class: mean and unbiased sample covariance of ``y[labels == c]``; weights 1 / C.

    Args:
        y: (N, D) data.
        labels: (N,) integer classes in 0..num_classes - 1; every class needs more than D points
            (otherwise its sample covariance is singular).
    """
    y = np.asarray(y, dtype=np.float64)
    labels = np.asarray(labels)
    if y.ndim != 2 or labels.shape != (y.shape[0],):
        raise ValueError(f"need y (N, D) and labels (N,), got {y.shape} and {labels.shape}")
    dim = y.shape[1]
    means = np.empty((num_classes, dim))
    covariances = np.empty((num_classes, dim, dim))
    for c in range(num_classes):
        yc = y[labels == c]
        if yc.shape[0] <= dim:
            raise ValueError(
                f"class {c} has {yc.shape[0]} points, but a full covariance in D = {dim} dimensions "
                f"needs more than {dim}"
            )
        means[c] = yc.mean(axis=0)
        covariances[c] = np.cov(yc, rowvar=False)
    weights = np.full(num_classes, 1.0 / num_classes)
    return ClassGaussians(weights, means, covariances)


def sample_class_gaussians(
    mixture: ClassGaussians, n: int, *, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``n`` draws ``x`` (n, D) float32 and their component labels (n,) int64.

    Labels are drawn first (categorical with the mixture weights), then standard normals
    ``eps`` (n, D) in float64, and ``x = mu_c + L_c eps`` with ``L_c`` the Cholesky factor of
    component ``c``'s covariance.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    factors = torch.as_tensor(mixture.cholesky())
    means = torch.as_tensor(np.asarray(mixture.means, dtype=np.float64))
    weights = torch.as_tensor(np.asarray(mixture.weights, dtype=np.float64))
    labels = vrandom.multinomial(weights, n, generator=generator)
    zeros = torch.zeros(n, means.shape[1], dtype=torch.float64)
    eps = vrandom.normal(zeros, torch.ones_like(zeros), generator=generator)
    x = torch.empty_like(eps)
    for c in range(means.shape[0]):
        rows = labels == c
        x[rows] = means[c] + eps[rows] @ factors[c].T
    return x.to(torch.float32), labels


class GMMSplits(NamedTuple):
    """The fitted mixture and the train / val / test samples drawn from it (see :func:`build_class_gmm`)."""

    mixture: ClassGaussians
    x: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def build_class_gmm(
    images_int: np.ndarray,
    labels: np.ndarray,
    *,
    num_levels: int,
    num_classes: int,
    alpha: float,
    sizes: dict[str, int],
    seed: int,
    stream: str,
) -> GMMSplits:
    """Steps 2-5 of the module recipe on (already resized) integer images (N, H, W) or (N, D).

    Random streams, all derived from ``seed`` and the name ``stream`` with
    :func:`vaeinfer.random.derive_seed`: ``(seed, stream, "dequantise")`` for the dequantisation
    noise and ``(seed, stream, "sample", split)`` for each split, so that changing one split's
    size leaves the others unchanged.
    """
    images_int = np.asarray(images_int)
    flat = images_int.reshape(images_int.shape[0], -1)
    noise = vrandom.make_generator(vrandom.derive_seed(seed, stream, "dequantise"))
    x01 = dequantise(flat, num_levels, generator=noise)
    mixture = fit_class_gaussians(logit_transform(x01, alpha), labels, num_classes)
    xs: dict[str, np.ndarray] = {}
    ys: dict[str, np.ndarray] = {}
    for split, n in sizes.items():
        generator = vrandom.make_generator(vrandom.derive_seed(seed, stream, "sample", split))
        x, y = sample_class_gaussians(mixture, n, generator=generator)
        xs[split], ys[split] = x.numpy(), y.numpy()
    return GMMSplits(mixture, xs, ys)
