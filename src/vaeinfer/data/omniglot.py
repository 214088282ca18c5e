"""Omniglot 28x28, binarised (seed000.md §2.3).

Raw inputs: ``images_background.zip`` and ``images_evaluation.zip`` from Brenden Lake's
repository; the md5 sums are those torchvision checks (``torchvision/datasets/omniglot.py``).
Each zip holds ``<set>/<alphabet>/<character>/<image>.png`` (105x105, black strokes on white).

Recipe:

1. merge the background and evaluation sets (32,460 images of 1,623 characters), in a fixed
   order: background before evaluation, then alphabet, character and file name sorted;
2. invert, so that strokes are 1 and the background 0;
3. permute with seed 20220719 (``torch.randperm``);
4. split 84.4 / 0.6 / 15.0 % into consecutive blocks: 27,396 / 194 / 4,870 images;
5. resize 105 -> 28, nearest neighbour (:func:`~vaeinfer.data.gmm.resize_nearest`);
6. binarise once with seeded uniforms, pixel = 1 where ``u < intensity``
   (:func:`~vaeinfer.data.standins.binarise`; after a nearest resize of binary images this
   leaves them unchanged).

Steps 2 and 5 act on each image alone, so they are applied while reading (this keeps memory
small); the result is the same as in the order above. Labels are the character indices
(0..1,622) in the merged order. The original read the folders in file-system order, so its
permutation cannot be reproduced image for image.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
import xarray as xr

from vaeinfer import random as vrandom
from vaeinfer.config import ConfigError
from vaeinfer.data.download import RemoteFile, require_file
from vaeinfer.data.gmm import resize_nearest
from vaeinfer.data.prepared import check_fractions, coerce_config, fraction_split_sizes, prepared_dataset
from vaeinfer.data.standins import binarise

__all__ = ["REMOTE_FILES", "OmniglotConfig", "prepare", "read_omniglot_zip"]

_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python/"
REMOTE_FILES: list[RemoteFile] = [
    RemoteFile("images_background.zip", _URL + "images_background.zip", "md5:68d2efa1b9178cc56df9314c21c6e718",
               9_500_000),  # size approximate
    RemoteFile("images_evaluation.zip", _URL + "images_evaluation.zip", "md5:6b91aef0f799c5bb55b94e3f2daec811",
               6_500_000),  # size approximate
]  # fmt: skip


@dataclass(frozen=True)
class OmniglotConfig:
    """Omniglot preparation.

    Attributes:
        seed: seed of the permutation (20220719 in the paper); the binarisation uses the stream
            ``derive_seed(seed, "omniglot", "binarise")``.
        train_fraction, val_fraction, test_fraction: split fractions (floor for train and val, the
            rest is test); they must sum to 1.
        image_size: side of the resized images (28).
    """

    seed: int = 20220719
    train_fraction: float = 0.844
    val_fraction: float = 0.006
    test_fraction: float = 0.150
    image_size: int = 28

    def __post_init__(self) -> None:
        check_fractions("OmniglotConfig", self.train_fraction, self.val_fraction, self.test_fraction)
        if self.image_size < 1:
            raise ConfigError(f"OmniglotConfig.image_size must be >= 1, got {self.image_size}")


def read_omniglot_zip(path: str | os.PathLike[str], image_size: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Images (N, image_size, image_size) float32 in {0, 1}-ish intensities (strokes = 1) and their characters.

    Reads every ``<set>/<alphabet>/<character>/<file>.png`` member in sorted order, converts it to
    grey levels, inverts (``1 - value / 255``) and resizes it (nearest). Returns the images and,
    per image, its ``(alphabet, character)``.
    """
    from PIL import Image

    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{path} is not a readable zip file ({err}); delete it and download it again") from None
    with zf:
        members = []
        for name in zf.namelist():
            parts = PurePosixPath(name).parts
            if name.lower().endswith(".png") and len(parts) == 4:
                members.append((parts[1], parts[2], parts[3], name))
        if not members:
            raise ValueError(f"{path} contains no <set>/<alphabet>/<character>/<image>.png members")
        members.sort()
        images = np.empty((len(members), image_size, image_size), dtype=np.float32)
        for i, (_, _, _, name) in enumerate(members):
            with Image.open(io.BytesIO(zf.read(name))) as img:
                grey = np.asarray(img.convert("L"), dtype=np.float32)
            images[i] = resize_nearest(1.0 - grey[None] / 255.0, image_size)[0]
    return images, [(alphabet, character) for alphabet, character, _, _ in members]


def prepare(raw_dir: str | os.PathLike[str], config: OmniglotConfig | Mapping[str, Any] | None = None) -> xr.Dataset:
    """Build binarised 28x28 Omniglot from the two zips in ``raw_dir`` (recipe in the module docstring)."""
    config = coerce_config(OmniglotConfig, config)
    images, characters = [], []
    for remote in REMOTE_FILES:
        imgs, chars = read_omniglot_zip(require_file(remote, raw_dir), config.image_size)
        images.append(imgs)
        characters += [(remote.filename, *c) for c in chars]
    x = np.concatenate(images).reshape(len(characters), -1)
    index = {c: i for i, c in enumerate(dict.fromkeys(characters))}
    labels = np.array([index[c] for c in characters], dtype=np.int64)
    order = torch.randperm(x.shape[0], generator=vrandom.make_generator(config.seed)).numpy()
    x, labels = x[order], labels[order]
    x = binarise(x, generator=vrandom.make_generator(vrandom.derive_seed(config.seed, "omniglot", "binarise")))
    n_train, n_val, _ = fraction_split_sizes(x.shape[0], config.train_fraction, config.val_fraction)
    bounds = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val), "test": slice(n_train + n_val, None)}
    return prepared_dataset(
        name="omniglot", kind="real", stands_in_for="", likelihood="bernoulli",
        image_shape=(config.image_size, config.image_size), config=config,
        x={s: x[b] for s, b in bounds.items()}, labels={s: labels[b] for s, b in bounds.items()},
        description=(
            f"Omniglot background + evaluation ({x.shape[0]} images, {len(index)} characters), inverted (strokes = 1), "
            f"permuted with seed {config.seed}, resized to {config.image_size}x{config.image_size} (nearest) and "
            "binarised once with seeded uniforms."
        ),
    )  # fmt: skip
