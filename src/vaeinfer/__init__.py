"""vaeinfer: inference in variational autoencoders with missing data.

The public entry points are :func:`vaeinfer.sample` (conditional sampling of a user's VAE), the
sampler registry :data:`vaeinfer.samplers.SAMPLERS` and :class:`vaeinfer.random.PointStreams`.
Everything random takes an explicit ``torch.Generator`` or per-point streams; nothing in this
package touches the global RNG.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vaeinfer")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__", "random", "sample", "samplers"]


def __getattr__(name: str):
    # Keep `import vaeinfer` light: the sampling API (and torch) load on first use.
    if name == "sample":
        from vaeinfer.api import sample

        return sample
    if name in ("random", "samplers"):
        return importlib.import_module(f"vaeinfer.{name}")
    raise AttributeError(f"module 'vaeinfer' has no attribute {name!r}")
